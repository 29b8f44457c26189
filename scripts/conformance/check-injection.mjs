// Self-check of inject-auth.mjs, run by scripts/conformance.sh before the suite:
//   node --import ./inject-auth.mjs ./check-injection.mjs      (MCP_SERVER_URL, CONFORMANCE_SUITE set)
//
// Sends one 2026-07-28 server/discover to the server by each way the suite sends requests (fetch,
// undici's request(), node:http's request()) and requires 200 from each: without the token the server
// answers 401. Then sends the same three to a listener of its own on another port and requires that
// none of them carried an Authorization header: the token goes to the server's origin only.
import http from "node:http";
import { createRequire } from "node:module";

const undici = createRequire(process.env.CONFORMANCE_SUITE)("undici");
const serverUrl = process.env.MCP_SERVER_URL;
const body = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "server/discover",
  params: {
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "check-injection", version: "0" },
      "io.modelcontextprotocol/clientCapabilities": {},
    },
  },
});
const headers = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": "server/discover",
};

const ways = {
  fetch: async (url) => (await fetch(url, { method: "POST", headers, body })).status,
  "undici request": async (url) => {
    const response = await undici.request(url, { method: "POST", headers, body });
    await response.body.dump();
    return response.statusCode;
  },
  "node:http request": (url) =>
    new Promise((resolve, reject) => {
      const request = http.request(url, { method: "POST", headers }, (response) => {
        response.resume().on("end", () => resolve(response.statusCode));
      });
      request.on("error", reject).end(body);
    }),
};

const problems = [];
for (const [way, send] of Object.entries(ways)) {
  const status = await send(serverUrl);
  if (status !== 200) problems.push(`${way} to the server got ${status}, expected 200`);
}

// Another origin (a listener of our own, standing in for the IdP or anything else the suite talks to).
const seen = [];
const listener = http.createServer((request, response) => {
  seen.push(request.headers.authorization);
  request.resume().on("end", () => response.end("{}"));
});
await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
const otherUrl = `http://127.0.0.1:${listener.address().port}/mcp`;
for (const [way, send] of Object.entries(ways)) {
  await send(otherUrl);
  if (seen.at(-1) !== undefined) problems.push(`${way} to another origin carried an Authorization header`);
}
listener.close();

if (problems.length) {
  console.error(`token injection check failed:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("token injection: fetch, undici request and node:http request to the server all answered 200; another origin got no token");
