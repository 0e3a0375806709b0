"""Development server: `python run.py` (HOST and PORT from the environment)."""

import os

from meme_api import create_app
from meme_api.server_errors import ProblemRequestHandler

app = create_app()

if __name__ == "__main__":
    # The handler keeps the server's own errors problem documents and drops Werkzeug's coloured
    # request line: the app already logs one JSON line per request (contract §8).
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")),
            request_handler=ProblemRequestHandler)
