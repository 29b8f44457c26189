// A host built on the TypeScript MCP SDK (@modelcontextprotocol/sdk 1.32), against a real server.
//
//   node ts_client.mjs        (settings in the environment; run by tests/interop/test_ts_sdk_client.py)
//
// It does what a model-driven host does: connects over Streamable HTTP with the SDK's OAuth client
// (metadata discovery, dynamic registration, authorization code + PKCE, resource indicator), lists the
// tools, reads, calls create_reorder (which the token's first scope does not cover: the server answers
// 403 insufficient_scope and the SDK re-authorizes with the scopes the challenge names), answers the
// approval question (form elicitation: yes), and reads again. The "user" is scripted: the redirect
// handler opens the authorization URL over HTTP, logs in with the dev password and allows the consent
// page, as demo/browser.py does. Everything observed is printed as one JSON object on stdout.
//
// Environment: TS_SDK_DIR (a folder whose node_modules holds the SDK), MCP_SERVER_URL, MCP_USER and
// MCP_PASSWORD (the fixture user's dev password; never use a real one here).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const env = (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
};
const sdk = createRequire(join(env("TS_SDK_DIR"), "package.json"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError } = sdk("@modelcontextprotocol/sdk/client/auth.js");
const { ElicitRequestSchema } = sdk("@modelcontextprotocol/sdk/types.js");
const SDK_VERSION = JSON.parse(
    readFileSync(join(env("TS_SDK_DIR"), "node_modules", "@modelcontextprotocol", "sdk", "package.json"), "utf8"),
).version;

const SERVER_URL = env("MCP_SERVER_URL");
const USER = env("MCP_USER");
const PASSWORD = env("MCP_PASSWORD");
// The redirect is captured by the scripted browser; nothing listens here.
const REDIRECT_URI = "http://127.0.0.1:33419/callback";

const seen = {
    sdkVersion: SDK_VERSION,
    challenges: [], // every 401/403 the server answered: status and WWW-Authenticate
    authorizations: [], // every authorization request the SDK sent the user to: its scope
    consents: 0, // consent pages the user allowed
    logins: 0,
    registrations: 0,
    tokens: [], // every token the SDK saved: its scope, and whether it came with a refresh token
    elicitations: [],
};

// A cookie-keeping user agent, enough for the dev IdP's login and consent pages.
class ScriptedBrowser {
    constructor() {
        this.cookies = new Map();
        this.code = undefined;
    }

    async fetch(url, init = {}) {
        const headers = { ...(init.headers ?? {}) };
        if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
        const response = await fetch(url, { ...init, headers, redirect: "manual" });
        for (const line of response.headers.getSetCookie()) {
            const [pair] = line.split(";");
            const at = pair.indexOf("=");
            this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
        }
        return response;
    }

    async post(url, fields) {
        const body = new URLSearchParams(fields);
        return this.fetch(url, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    }

    // The SDK's redirect: log in if asked, allow the consent page, keep the code from the redirect.
    async open(authorizationUrl) {
        seen.authorizations.push({ scope: authorizationUrl.searchParams.get("scope") });
        let page = await this.fetch(authorizationUrl);
        let html = await page.text();
        if (!html.includes("Allow access?")) {
            seen.logins += 1;
            const login = await this.post(new URL("/login", authorizationUrl), [
                ...hiddenFields(html),
                ["username", USER],
                ["password", PASSWORD],
            ]);
            if (login.status !== 303) throw new Error(`login refused (HTTP ${login.status})`);
            page = await this.fetch(new URL(login.headers.get("location"), authorizationUrl));
            html = await page.text();
        }
        if (!html.includes("Allow access?")) throw new Error(`no consent page (HTTP ${page.status})`);
        seen.consents += 1;
        const answer = await this.post(new URL("/authorize", authorizationUrl), [
            ...hiddenFields(html),
            ["decision", "approve"],
        ]);
        const location = new URL(answer.headers.get("location") ?? "", authorizationUrl);
        this.code = location.searchParams.get("code") ?? undefined;
        if (answer.status !== 302 || !this.code) {
            throw new Error(`authorization refused: ${location.searchParams.get("error_description") ?? answer.status}`);
        }
    }

    takeCode() {
        const code = this.code;
        this.code = undefined;
        if (!code) throw new Error("no authorization code was received");
        return code;
    }
}

function hiddenFields(html) {
    const unescape = (text) =>
        text.replaceAll("&quot;", '"').replaceAll("&#x27;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
    return [...html.matchAll(/<input type=hidden name="([^"]*)" value="([^"]*)">/g)].map((m) => [unescape(m[1]), unescape(m[2])]);
}

// The SDK's OAuthClientProvider, keeping everything in memory as a host would for one session.
class Provider {
    constructor(browser) {
        this.browser = browser;
        this.client = undefined;
        this.saved = undefined;
        this.verifier = undefined;
    }
    get redirectUrl() {
        return REDIRECT_URI;
    }
    get clientMetadata() {
        // No refresh_token grant: SDK 1.32 answers a 403 step-up by refreshing the token it has (a refresh
        // cannot widen scope) and gives up when the same 403 comes back, never asking the user
        // (typescript-sdk issue 2255). Without a refresh token it re-authorizes, which is the step-up.
        return {
            client_name: "TypeScript SDK interop test",
            redirect_uris: [REDIRECT_URI],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
        };
    }
    clientInformation() {
        return this.client;
    }
    saveClientInformation(info) {
        seen.registrations += 1;
        this.client = info;
    }
    tokens() {
        return this.saved;
    }
    saveTokens(tokens) {
        seen.tokens.push({ scope: tokens.scope, refreshToken: Boolean(tokens.refresh_token) });
        this.saved = tokens;
    }
    async redirectToAuthorization(url) {
        await this.browser.open(url);
    }
    saveCodeVerifier(verifier) {
        this.verifier = verifier;
    }
    codeVerifier() {
        return this.verifier;
    }
}

// Records each challenge the server sends before the SDK acts on it.
async function watchedFetch(url, init) {
    const response = await fetch(url, init);
    if (response.status === 401 || response.status === 403) {
        seen.challenges.push({ status: response.status, wwwAuthenticate: response.headers.get("www-authenticate") });
    }
    return response;
}

function newClient() {
    const client = new Client({ name: "ts-sdk-interop", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } });
    // The human: reads the question and says yes to every boolean in the form (today `approve`).
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
        seen.elicitations.push(request.params.message);
        const properties = request.params.requestedSchema?.properties ?? {};
        const content = Object.fromEntries(
            Object.entries(properties).filter(([, schema]) => schema.type === "boolean").map(([name]) => [name, true]),
        );
        return { action: "accept", content };
    });
    return client;
}

// Connect as a host does: on UnauthorizedError the user has been through the authorization page; hand the
// SDK the code, then connect again.
async function connect(provider, browser) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
        const transport = new StreamableHTTPClientTransport(new URL(SERVER_URL), { authProvider: provider, fetch: watchedFetch });
        const client = newClient();
        try {
            await client.connect(transport);
            return { client, transport };
        } catch (error) {
            if (!(error instanceof UnauthorizedError)) throw error;
            await transport.finishAuth(browser.takeCode());
        }
    }
    throw new Error("still unauthorized after one authorization");
}

// A call as a host makes it: a step-up sends the user to the authorization page, then the call is retried.
async function call(session, browser, name, args) {
    try {
        return await session.client.callTool({ name, arguments: args });
    } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error;
        await session.transport.finishAuth(browser.takeCode());
        return await session.client.callTool({ name, arguments: args });
    }
}

const browser = new ScriptedBrowser();
const provider = new Provider(browser);
const session = await connect(provider, browser);
seen.protocolVersion = session.transport.protocolVersion;
const tools = (await session.client.listTools()).tools;
seen.tools = tools.map((tool) => tool.name);
seen.createReorderDescription = tools.find((tool) => tool.name === "create_reorder")?.description;

const firstRead = await call(session, browser, "list_stock_levels", { below_reorder_point: true, limit: 5 });
seen.firstRead = { isError: Boolean(firstRead.isError), items: firstRead.structuredContent?.items?.length };
const low = firstRead.structuredContent.items[0];
const reorderArgs = { sku: low.sku, warehouse: low.warehouse, quantity: low.reorder_quantity };
seen.reorderArgs = reorderArgs;

const reorder = await call(session, browser, "create_reorder", reorderArgs);
seen.reorder = { isError: Boolean(reorder.isError), result: reorder.structuredContent ?? reorder.content };
seen.authorizationsBeforeSecondRead = seen.authorizations.length;

const secondRead = await call(session, browser, "list_reorders", { status: "open", limit: 5 });
seen.secondRead = {
    isError: Boolean(secondRead.isError),
    reorderIds: (secondRead.structuredContent?.items ?? []).map((item) => item.id),
};
await session.client.close();
process.stdout.write(JSON.stringify(seen) + "\n");
