"""End-to-end flow of the README, through the test client."""

from conftest import assert_problem


def test_login_create_post_list_moderate_delete(client, auth, admin):
    login = client.get("/login", headers=auth.basic("admin", "adminpass1"))
    assert login.status_code == 200
    token = login.get_json()["token"]
    admin_headers = auth.headers(**{"x-access-token": token})

    made = client.post("/user", data={"username": "carol", "password": "carolpass1"},
                       headers=admin_headers)
    assert made.status_code == 201
    carol_login = client.post("/login", json={"username": "carol", "password": "carolpass1"},
                              headers=auth.headers())
    carol_headers = auth.headers(**{"x-access-token": carol_login.get_json()["token"]})

    posted = client.post("/template", data={"title": "Hi", "url": "https://e.org/a.png"},
                         headers=carol_headers)
    assert posted.status_code == 201
    template_id = posted.get_json()["template"]["id"]
    assert posted.get_json()["template"]["approved"] is False

    approved = client.patch(f"/template/{template_id}", json={"approved": True},
                            headers=admin_headers)
    assert approved.get_json()["template"]["approved"] is True
    listed = client.get("/template", headers=carol_headers).get_json()
    assert [t["id"] for t in listed["templates"]] == [template_id]

    assert client.delete(f"/template/{template_id}", headers=carol_headers).status_code == 200
    assert_problem(client.get(f"/template/{template_id}", headers=carol_headers), 404,
                   "No post found")
