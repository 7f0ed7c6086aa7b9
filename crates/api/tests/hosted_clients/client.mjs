// A client of the hosted service's API, written from its documentation with node's own
// `fetch`, `URLSearchParams` and `FormData`: every endpoint with JSON, form and multipart
// bodies, checking the documented answer shapes. Run by tests/hosted.rs after client.py.

const BASE = process.env.HOSTED_BASE;
const DATE = process.env.HOSTED_DATE;
const CREDS = {
  api_user: process.env.HOSTED_USER,
  api_key: process.env.HOSTED_KEY,
  server_composition: process.env.HOSTED_COMPOSITION,
};

function check(condition, what) {
  if (!condition) {
    console.log("FAILED:", typeof what === "string" ? what : JSON.stringify(what));
    process.exit(1);
  }
}

async function answer(response) {
  const text = await response.text();
  check(response.status === 200, `${response.url}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function refusal(response) {
  check(response.status !== 200, "refused");
  const body = await response.json();
  check(body.errors.length === 1, body);
  return body.errors[0].code;
}

const json = (path, body) =>
  fetch(BASE + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept-Language": "ja" },
    body: JSON.stringify(body),
  });
const form = (path, body) =>
  fetch(BASE + path, { method: "POST", body: new URLSearchParams(body) });

let sent = await answer(await json("/api/v2/emails/send.json", {
  ...CREDS,
  from: { name: "Node", address: "node@shop.example" },
  to: "node-json@example.jp",
  subject: "from node",
  html: "<p>hi</p>",
  headers: { "X-Api-Data": "node-json" },
}));
check(Object.keys(sent).join() === "id", sent);

sent = await answer(await form("/api/v2/emails/send", {
  ...CREDS,
  from: JSON.stringify({ name: "Node", address: "node@shop.example" }),
  to: JSON.stringify([{ name: "", address: "node-form@example.jp" }]),
  subject: "form",
  text: "body",
}));
check(sent.id, sent);

const data = new FormData();
for (const [k, v] of Object.entries({
  ...CREDS,
  from: JSON.stringify({ name: "Node", address: "node@shop.example" }),
  to: "node-multipart@example.jp",
  subject: "files",
  text: "attached",
  attachments: "1",
})) {
  data.append(k, v);
}
data.append("attachment1", new Blob(["hello"], { type: "text/plain" }), "hello.txt");
sent = await answer(await fetch(BASE + "/api/v2/emails/send.json", { method: "POST", body: data }));
check(sent.id, sent);

sent = await answer(await json("/api/v2/emails/bulk.json", {
  ...CREDS,
  from: { name: "Node", address: "node@shop.example" },
  to: [{ name: "X", address: "node-bulk@example.jp", code: "42" }],
  subject: "code ((#code#))",
  text: "((#name#))",
}));
check(sent.ids.length === 1, sent);

const listed = await answer(await json("/transaction/v2/deliveries/list.json", { ...CREDS, date: DATE, r: 100 }));
const mine = listed.deliveries.filter((d) => d.to.startsWith("node-"));
check(mine.length === 4, listed);
check(mine.find((d) => d.to === "node-json@example.jp").apiData === "node-json", mine);
check(mine.find((d) => d.to === "node-bulk@example.jp").subject === "code 42", mine);
check(mine.every((d) => d.sourceIp === "127.0.0.1"), mine);
const stats = await answer(await form("/transaction/v2/statistics/list", {
  ...CREDS, year: DATE.slice(0, 4), month: DATE.slice(5, 7),
}));
check(stats.statistics.some((s) => s.date === DATE && s.queued >= 4), stats);
check((await answer(await form("/transaction/v2/bounces/list.json", CREDS))).bounces !== undefined, "bounces");
check(Array.isArray((await answer(await form("/transaction/v2/blocks/list.json", CREDS))).blocks), "blocks");
check((await refusal(await json("/transaction/v2/deliveries/list.json", { ...CREDS, api_user: "nobody@x.example", date: DATE }))) === "01-003", "wrong user");
check(
  (await refusal(await form("/transaction/v2/deliveries/list.json", {
    ...CREDS, server_composition: process.env.HOSTED_OTHER_COMPOSITION, date: DATE,
  }))) === "01-005",
  "other composition",
);
console.log("all checks passed");
