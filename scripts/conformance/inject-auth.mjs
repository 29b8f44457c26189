// Preload for the MCP conformance suite (`node --import ./inject-auth.mjs <suite> server ...`).
//
// The suite has no option to send a bearer token, and our servers answer 401 without one. This wraps
// the global `fetch` (which the suite's MCP client uses for every request) so that each request carries
// `Authorization: Bearer $MCP_BEARER_TOKEN`. Requests the suite makes with undici's `request` directly
// (only the dns-rebinding-protection probes) are not covered: see baseline.yml.
const token = process.env.MCP_BEARER_TOKEN;
if (!token) {
  throw new Error("inject-auth.mjs: set MCP_BEARER_TOKEN to the access token to send");
}

const originalFetch = globalThis.fetch;

globalThis.fetch = function fetchWithBearer(input, init = {}) {
  // Start from the Request's own headers (if given a Request), then the call's, then set ours.
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init.headers).forEach((value, name) => headers.set(name, value));
  headers.set("authorization", `Bearer ${token}`);
  return originalFetch(input, { ...init, headers });
};
