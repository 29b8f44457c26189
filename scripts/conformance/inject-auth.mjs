// Preload for the MCP conformance suite (`node --import ./inject-auth.mjs <suite> server --url URL ...`).
//
// The suite has no option to send a bearer token, and our servers answer 401 without one. Its probes
// reach the server three ways, and each gets `Authorization: Bearer $MCP_BEARER_TOKEN` here, for the
// server's origin ($MCP_SERVER_URL) only:
// - the global `fetch` (its MCP client and most raw probes) and undici's `request()` (the
//   dns-rebinding-protection probes, which set their own Host header) both go through undici's global
//   dispatcher, where an interceptor adds the header; the `fetch` wrapper covers a `fetch` given a
//   dispatcher of its own;
// - node:http's `request()`/`get()` (the http-header-validation probes, which send raw header values
//   fetch would refuse) are wrapped too.
// A request that already carries an Authorization header keeps it, so a probe that sends a token of
// its own still tests what it means to.
import http from "node:http";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const token = process.env.MCP_BEARER_TOKEN;
const serverUrl = process.env.MCP_SERVER_URL;
if (!token || !serverUrl) {
  throw new Error("inject-auth.mjs: set MCP_BEARER_TOKEN (the access token) and MCP_SERVER_URL (the server's URL)");
}
const serverOrigin = new URL(serverUrl).origin;
const bearer = `Bearer ${token}`;

// The suite's own copy of undici, resolved from its entry point ($CONFORMANCE_SUITE, or the script run).
const suiteRequire = createRequire(process.env.CONFORMANCE_SUITE ?? process.argv[1]);
const undici = await import(pathToFileURL(suiteRequire.resolve("undici")).href);

const isServerOrigin = (origin) => {
  try {
    return new URL(String(origin)).origin === serverOrigin;
  } catch {
    return false;
  }
};

// undici passes headers as a flat [name, value, ...] array, an array of pairs, or an object.
function withBearer(headers) {
  if (headers == null) return { authorization: bearer };
  if (Array.isArray(headers)) {
    const flat = headers.flat();
    for (let i = 0; i < flat.length; i += 2) {
      if (String(flat[i]).toLowerCase() === "authorization") return headers;
    }
    return [...flat, "authorization", bearer];
  }
  const entries = headers instanceof Headers || headers instanceof Map ? [...headers] : Object.entries(headers);
  if (entries.some(([name]) => String(name).toLowerCase() === "authorization")) return headers;
  return { ...Object.fromEntries(entries), authorization: bearer };
}

const addBearer = (dispatch) => (options, handler) =>
  dispatch(isServerOrigin(options.origin) ? { ...options, headers: withBearer(options.headers) } : options, handler);

undici.setGlobalDispatcher(new undici.Agent().compose(addBearer));

const originalFetch = globalThis.fetch;

globalThis.fetch = function fetchWithBearer(input, init = {}) {
  const url = input instanceof Request ? input.url : String(input);
  if (!isServerOrigin(url)) return originalFetch(input, init);
  // Start from the Request's own headers (if given a Request), then the call's, then add ours.
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init.headers).forEach((value, name) => headers.set(name, value));
  if (!headers.has("authorization")) headers.set("authorization", bearer);
  return originalFetch(input, { ...init, headers });
};

// node:http: request(url[, options][, callback]) or request(options[, callback]).
function isServerTarget(url, options) {
  if (url !== undefined) return isServerOrigin(url);
  const host = options.hostname ?? options.host ?? "localhost";
  const port = options.port ?? 80;
  return isServerOrigin(`${options.protocol ?? "http:"}//${host.includes(":") ? `[${host}]` : host}:${port}`);
}

function withBearerArgs(args) {
  const urlFirst = typeof args[0] === "string" || args[0] instanceof URL;
  const url = urlFirst ? args[0] : undefined;
  const optionsAt = urlFirst ? 1 : 0;
  const options = typeof args[optionsAt] === "object" && args[optionsAt] !== null ? args[optionsAt] : {};
  if (!isServerTarget(url, options)) return args;
  const patched = { ...options, headers: withBearer(options.headers) };
  const rest = args.slice(options === args[optionsAt] ? optionsAt + 1 : optionsAt);
  return urlFirst ? [url, patched, ...rest] : [patched, ...rest];
}

const originalRequest = http.request;
const originalGet = http.get;
http.request = (...args) => originalRequest(...withBearerArgs(args));
http.get = (...args) => originalGet(...withBearerArgs(args));
