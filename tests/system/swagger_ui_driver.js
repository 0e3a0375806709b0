// Drives the Swagger UI page the way a person does: the Authorize dialog, "Try it out",
// the parameter and body fields, "Execute", and the answer shown on the page. Loaded into the
// page by tests/system/test_docs_browser.py; each function returns a promise.
(() => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function until(find, what, ms = 20000) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const found = find();
      if (found) return found;
      await sleep(40);
    }
    throw new Error("timed out waiting for " + what);
  }

  // React keeps its own copy of a field's value: set it through the native setter, then tell
  // React with the event a person's typing would fire.
  function type(field, value) {
    const prototype = Object.getPrototypeOf(field);
    Object.getOwnPropertyDescriptor(prototype, "value").set.call(field, value);
    field.dispatchEvent(new Event(field.tagName === "SELECT" ? "change" : "input",
                                  { bubbles: true }));
  }

  // The fields Swagger UI marks invalid (it then does not send the request), and why.
  function refused(block) {
    const fields = [...block.querySelectorAll(".invalid")].map(
      (field) => (field.closest("tr") || {dataset: {}}).dataset.paramName + "=" + field.value);
    const errors = [...block.querySelectorAll(".validation-errors")].map((e) => e.innerText);
    return JSON.stringify({ fields, errors });
  }

  window.__swaggerDriver = {
    // values: {schemeName: [first field, second field]} as typed into the dialog
    async authorize(values) {
      document.querySelector(".auth-wrapper .btn.authorize").click();
      await until(() => document.querySelector(".modal-ux-content"), "the Authorize dialog");
      for (const container of document.querySelectorAll(".modal-ux-content .auth-container")) {
        const name = container.querySelector("h4 code").textContent.trim();
        if (!(name in values)) continue;
        const fields = container.querySelectorAll("input");
        values[name].forEach((value, index) => type(fields[index], value));
        container.querySelector("button[type=submit]").click();
        await until(() => container.querySelector("h6"), name + " to be authorized");
      }
      document.querySelector(".modal-ux-content .btn-done").click();
      await until(() => !document.querySelector(".modal-ux-content"), "the dialog to close");
    },

    // Try one operation: fill only the given parameters and body, execute, return the answer.
    async tryOut(blockId, parameters, body) {
      const block = await until(() => document.getElementById(blockId), blockId);
      if (!block.classList.contains("is-open")) {
        block.querySelector(".opblock-summary-control").click();
      }
      const tryOut = await until(() => block.querySelector(".try-out__btn"), "Try it out");
      if (!tryOut.classList.contains("cancel")) tryOut.click();
      await until(() => block.querySelector(".btn.execute"), "Execute");
      for (const [name, value] of Object.entries(parameters || {})) {
        const row = `tr[data-param-name="${name}"]`;
        type(block.querySelector(`${row} input, ${row} select`), value);
      }
      if (body !== null && body !== undefined) {
        type(await until(() => block.querySelector("textarea.body-param__text"), "the body"),
             body);
      }
      // Parameter fields pass their value on after a debounce (300 ms in Swagger UI 5).
      if (Object.keys(parameters || {}).length) await sleep(600);
      const clear = block.querySelector(".btn-clear");
      if (clear) clear.click();
      await until(() => !block.querySelector(".live-responses-table"), "the last answer to go");
      block.querySelector(".btn.execute").click();
      const status = await until(
        () => block.querySelector(".live-responses-table tbody .response-col_status"),
        "the answer; fields the page refuses: " + refused(block), 10000);
      const shown = block.querySelector(".live-responses-table .response-col_description pre");
      const url = block.querySelector(".request-url pre");
      const answer = { status: parseInt(status.textContent, 10),
                       body: shown ? shown.textContent : "",
                       url: url ? url.textContent : "" };
      // Fold the operation again, as a person would: a page with every operation open and
      // answered grows slow to render.
      block.querySelector(".opblock-summary-control").click();
      return answer;
    },

    // What the page keeps across reloads (persistAuthorization).
    storedAuthorization() {
      return JSON.parse(localStorage.getItem("authorized") || "{}");
    },
  };
})();
