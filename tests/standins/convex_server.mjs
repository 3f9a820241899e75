// A local Convex deployment for gitorch's tests and demo: the project's own convex/ functions run
// in convex-test (real handlers, argument/return/schema validation, indexes, transactions) behind
// the two APIs the Python `convex` package speaks:
//   - HTTP: POST /api/query, /api/mutation, /api/action ({path, args, format}) answered as the real
//     backend does: 200 {status:"success", value} or 200 {status:"error", errorMessage, errorData?}
//     when a function throws, 4xx {code, message} for a malformed request; integer-valued floats
//     written as 5.0; internal functions only with `Authorization: Convex <admin key>`.
//   - the sync WebSocket at /api/sync (or /api/<version>/sync): Connect, ModifyQuerySet, Mutation,
//     Action, Authenticate in; Transition, MutationResponse, ActionResponse, Ping out.
//
// Usage: node convex_server.mjs --convex-dir DIR [--port N] [--data FILE] [--admin-key KEY] [--ping-ms MS]
// It prints one JSON line {"event":"listening","port":N} when ready, then reads commands from stdin,
// one JSON object a line ({"id":1,"cmd":"mode","mode":"hang"}), answering {"id":1,"ok":true}:
//   mode: normal | refuse (stop listening, drop connections) | hang (accept, never answer) |
//         error (HTTP 500) | slow (answer after delayMs); hang/error with afterCommit:true run the
//         function first, so the caller cannot know it succeeded.
//   flush: write the data file now.   stop: write it and exit.   (stdin closing also stops.)
// Data is kept in --data as JSON (written every few seconds, and on flush and stop) and loaded again
// on start, so a stopped server restarts with it.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { register } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { makeFunctionReference } from "convex/server";
import { convexToJson, jsonToConvex } from "convex/values";
import { WebSocketServer } from "ws";

// -- convex-test, with fast lookups by (runner, key) -------------------------------------------------
//
// convex-test answers an index query by scanning the whole table, so each upsert costs O(table) and
// draining 10,000 records would take minutes. Its in-memory database is not exported; a loader hook
// exports it, and a hash of committed documents by (runner, key) narrows `by_key` lookups to their
// candidates (plus the transaction's own pending writes). convex-test's own code still filters and
// orders those candidates, so results are the same as without the shortcut, only faster.

register(
  "data:text/javascript," +
    encodeURIComponent(`
export async function load(url, context, next) {
  const result = await next(url, context);
  if (url.endsWith("/convex-test/dist/index.js")) {
    const source = String(result.source) + "\\nexport { DatabaseFake as __DatabaseFake, tableNameFromId as __tableNameFromId };\\n";
    return { ...result, source, shortCircuit: true };
  }
  return result;
}`),
);
const convexTestModule = await import("convex-test");
const { convexTest } = convexTestModule;

function accelerateKeyLookups(DatabaseFake, tableNameFromId) {
  if (!DatabaseFake) return;
  const indexes = new WeakMap(); // database -> table -> JSON([runner, key]) -> Set of ids
  const keyOf = (doc) => (doc && doc.key !== undefined ? JSON.stringify([doc.runner, doc.key]) : null);
  const add = (idx, k, id) => k !== null && (idx.get(k) ?? idx.set(k, new Set()).get(k)).add(id);
  const remove = (idx, k, id) => k !== null && idx.get(k)?.delete(id);
  function tableIndex(db, table) {
    let byTable = indexes.get(db);
    if (!byTable) indexes.set(db, (byTable = new Map()));
    let idx = byTable.get(table);
    if (!idx) {
      byTable.set(table, (idx = new Map()));
      for (const id of db._tableIds.get(table) ?? []) add(idx, keyOf(db._documents[id]), id);
    }
    return idx;
  }
  const commit = DatabaseFake.prototype.commit;
  DatabaseFake.prototype.commit = function (commitTs) {
    const top = this._writes.length === 1 ? this._writes[0] : null;
    const before = top ? Object.keys(top).map((id) => [id, this._documents[id] ?? null]) : [];
    const out = commit.call(this, commitTs);
    for (const [id, old] of before) {
      const idx = indexes.get(this)?.get(tableNameFromId(id));
      if (!idx) continue; // built from the committed documents on first use
      remove(idx, keyOf(old), id);
      add(idx, keyOf(this._documents[id] ?? null), id);
    }
    return out;
  };
  const resolve = DatabaseFake.prototype._resolveQuerySource;
  DatabaseFake.prototype._resolveQuerySource = function (query) {
    const source = query.source;
    if (source.type !== "IndexRange" || !source.indexName.endsWith(".by_key")) return resolve.call(this, query);
    const eq = {};
    for (const f of source.range) if (f.type === "Eq") eq[f.fieldPath] = f.value;
    if (typeof eq.runner !== "string" || typeof eq.key !== "string") return resolve.call(this, query);
    const table = source.indexName.split(".")[0];
    const ids = new Set(tableIndex(this, table).get(JSON.stringify([eq.runner, eq.key])) ?? []);
    for (const level of this._writes) {
      for (const id of Object.keys(level)) if (tableNameFromId(id) === table) ids.add(id);
    }
    this._iterateDocs = (tableName, callback) => {
      for (const id of ids) {
        const doc = this.get(tableName, id);
        if (doc !== null) callback(doc);
      }
    };
    try {
      return resolve.call(this, query);
    } finally {
      delete this._iterateDocs;
    }
  };
}

accelerateKeyLookups(convexTestModule.__DatabaseFake, convexTestModule.__tableNameFromId);

// -- arguments -------------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 0, data: null, adminKey: null, convexDir: null, host: "127.0.0.1", pingMs: 15_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (name === "--port") opts.port = Number(value);
    else if (name === "--data") opts.data = value;
    else if (name === "--admin-key") opts.adminKey = value;
    else if (name === "--convex-dir") opts.convexDir = path.resolve(value);
    else if (name === "--ping-ms") opts.pingMs = Number(value);
    else throw new Error(`unknown option ${name}`);
  }
  if (!opts.convexDir) throw new Error("--convex-dir is required");
  opts.adminKey ??= crypto.randomBytes(16).toString("hex");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// -- bundle convex/ the way a deploy does, and load it into convex-test ------------------------------

function projectRoot(from) {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "node_modules", "convex-test"))) return dir;
  }
  throw new Error("node_modules/convex-test not found above " + from + "; run `npm ci` at the repository root");
}

async function loadFunctions(convexDir) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = projectRoot(here);
  const outdir = path.join(root, "node_modules", ".cache", "gitorch-convex", `${process.pid}-${Date.now()}`);
  const sources = [];
  for (const sub of ["", "_generated"]) {
    for (const name of fs.readdirSync(path.join(convexDir, sub))) {
      if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith(".d.ts") && !/\.test\./.test(name)) {
        sources.push(path.join(convexDir, sub, name));
      }
    }
  }
  await esbuild.build({
    entryPoints: sources,
    outbase: convexDir,
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["convex", "convex/*"],
    logLevel: "error",
  });
  const modules = {};
  const exported = {};
  for (const source of sources) {
    const rel = path.relative(convexDir, source).replace(/\.[^.]+$/, "");
    const url = pathToFileURL(path.join(outdir, rel + ".js")).href;
    modules[`convex/${rel}.js`] = () => import(url);
    exported[rel] = await import(url);
  }
  process.on("exit", () => fs.rmSync(outdir, { recursive: true, force: true }));
  return { modules, exported, schema: exported.schema.default };
}

const { modules, exported, schema } = await loadFunctions(opts.convexDir);
const t = convexTest(schema, modules);
const TABLES = Object.keys(schema.tables);

// -- data kept across restarts ---------------------------------------------------------------------

async function snapshot() {
  return await t.run(async (ctx) => {
    const out = {};
    for (const table of TABLES) {
      out[table] = (await ctx.db.query(table).collect()).map((doc) => convexToJson(doc));
    }
    return out;
  });
}

async function restore(file) {
  if (!file || !fs.existsSync(file)) return;
  const saved = JSON.parse(fs.readFileSync(file, "utf8"));
  await t.run(async (ctx) => {
    for (const [table, docs] of Object.entries(saved)) {
      for (const json of docs) {
        const { _id, _creationTime, ...doc } = jsonToConvex(json);
        await ctx.db.insert(table, doc);
      }
    }
  });
}

let dirty = false;
let timer = null;
let writing = Promise.resolve();

// A snapshot of every table costs O(data), so it is written every few seconds while there are
// changes, and always on `flush` and `stop` (which is how LocalConvex stops the server).
const SAVE_EVERY_MS = 5000;

function save() {
  writing = writing.then(async () => {
    if (!opts.data || !dirty) return;
    dirty = false;
    const text = JSON.stringify(await snapshot());
    const tmp = `${opts.data}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, opts.data);
  });
  return writing;
}

function markDirty() {
  dirty = true;
  if (timer === null && opts.data) {
    timer = setTimeout(() => {
      timer = null;
      save();
    }, SAVE_EVERY_MS);
    timer.unref();
  }
}

async function flush() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  dirty = true;
  await save();
}

await restore(opts.data);

// -- running functions ------------------------------------------------------------------------------

class FunctionError extends Error {
  constructor(message, errorData) {
    super(message);
    this.errorData = errorData;
  }
}

/** The exported function `path` ("mcp:writePlan", "mcp.js:writePlan", "mcp" for default). */
function lookup(udfPath) {
  let [file, name] = udfPath.includes(":") ? udfPath.split(":", 2) : [udfPath, "default"];
  file = file.replace(/\.(js|ts)$/, "");
  const fn = exported[file]?.[name];
  return fn && (fn.isQuery || fn.isMutation || fn.isAction) ? { fn, canonical: `${file}:${name}` } : null;
}

const KIND = { query: "isQuery", mutation: "isMutation", action: "isAction" };
const TITLE = { query: "Query", mutation: "Mutation", action: "Action" };

let ts = 0n; // the commit timestamp: grows with every write, and stays ahead of the clock
function nextTs() {
  const clock = BigInt(Date.now()) * 1_000_000n;
  ts = clock > ts ? clock : ts + 1n;
  return ts;
}

/** Run a function as the backend would; throws FunctionError with the message a client sees. */
async function execute(kind, udfPath, args, admin) {
  const found = lookup(udfPath);
  if (found === null || (found.fn.isInternal && !admin)) {
    throw new FunctionError(
      `Could not find public function for '${udfPath}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
    );
  }
  if (!found.fn[KIND[kind]]) {
    const actual = Object.keys(KIND).find((k) => found.fn[KIND[k]]);
    throw new FunctionError(
      `Trying to execute ${found.canonical} as ${TITLE[kind]}, but it is defined as ${TITLE[actual]}.`,
    );
  }
  const ref = makeFunctionReference(found.canonical);
  try {
    const value = await t[kind](ref, args);
    if (kind === "mutation") {
      markDirty();
      onCommit();
    }
    return value;
  } catch (err) {
    if (err?.data !== undefined && err?.name === "ConvexError") {
      throw new FunctionError(err.message, convexToJson(err.data));
    }
    throw new FunctionError(`Uncaught Error: ${err?.message ?? String(err)}`);
  }
}

// -- JSON with Convex's number rules: integer-valued floats as 5.0 -----------------------------------

class Raw {
  constructor(text) {
    this.text = text;
  }
}

function valueJson(x) {
  if (typeof x === "number") {
    return Number.isInteger(x) && Math.abs(x) < 1e21 ? x.toFixed(1) : JSON.stringify(x);
  }
  if (x === null || typeof x !== "object") return JSON.stringify(x);
  if (Array.isArray(x)) return `[${x.map(valueJson).join(",")}]`;
  return `{${Object.entries(x)
    .map(([k, v]) => `${JSON.stringify(k)}:${valueJson(v)}`)
    .join(",")}}`;
}

/** A Convex value, encoded for the wire. */
function value(v) {
  return new Raw(valueJson(convexToJson(v === undefined ? null : v)));
}

/** A protocol message: plain JSON, except for Raw values inside it. */
function message(x) {
  if (x instanceof Raw) return x.text;
  if (x === null || typeof x !== "object") return JSON.stringify(x);
  if (Array.isArray(x)) return `[${x.map(message).join(",")}]`;
  return `{${Object.entries(x)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${message(v)}`)
    .join(",")}}`;
}

// -- switches --------------------------------------------------------------------------------------

let mode = { mode: "normal", afterCommit: false, delayMs: 0 };
const hung = new Set(); // responses and sockets left without an answer in "hang" mode

function releaseHung() {
  for (const res of hung) res.destroy();
  hung.clear();
}

// -- HTTP ------------------------------------------------------------------------------------------

function send(res, status, body) {
  if (res.destroyed) return;
  const text = body instanceof Raw || typeof body === "object" ? message(body) : String(body);
  res.writeHead(status, { "content-type": "application/json" });
  res.end(text);
}

function badRequest(res, code, text) {
  send(res, 400, { code, message: text });
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function handleHttp(req, res) {
  const url = new URL(req.url, "http://localhost");
  const match = url.pathname.match(/^\/api\/(query|mutation|action)$/);
  if (req.method === "GET" && url.pathname === "/version") return send(res, 200, new Raw('"gitorch-local"'));
  if (!match) return send(res, 404, { code: "NotFound", message: `no route ${req.method} ${url.pathname}` });
  if (req.method !== "POST") return send(res, 405, { code: "MethodNotAllowed", message: "use POST" });
  const kind = match[1];
  const text = await readBody(req);

  if (mode.mode === "hang" && !mode.afterCommit) return void hung.add(res);
  if (mode.mode === "error" && !mode.afterCommit) return send(res, 500, { code: "InternalServerError", message: "simulated outage" });
  if (mode.mode === "slow") await new Promise((r) => setTimeout(r, mode.delayMs));

  const auth = req.headers.authorization;
  let admin = false;
  if (auth?.startsWith("Convex ")) {
    if (auth.slice(7) !== opts.adminKey) {
      return send(res, 401, { code: "BadAdminKey", message: "The provided admin key was invalid for this instance" });
    }
    admin = true;
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return badRequest(res, "BadJsonBody", `Failed to parse JSON body: ${err.message}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return badRequest(res, "BadJsonBody", "The request body must be a JSON object");
  }
  if (typeof body.path !== "string" || body.path === "") {
    return badRequest(res, "BadJsonBody", "Missing field `path`: the function to run, as 'module:name'");
  }
  if (body.format !== undefined && !["json", "convex_encoded_json"].includes(body.format)) {
    return badRequest(res, "BadJsonBody", `Unsupported format '${body.format}'; use 'json' or 'convex_encoded_json'`);
  }
  let args = body.args ?? {};
  if (Array.isArray(args) && args.length === 1) args = args[0];
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    return badRequest(res, "BadJsonBody", "`args` must be a JSON object of the function's arguments");
  }
  try {
    args = jsonToConvex(args);
  } catch (err) {
    return badRequest(res, "BadConvexValue", `args are not valid Convex values: ${err.message}`);
  }

  let reply;
  try {
    reply = { status: "success", value: value(await execute(kind, body.path, args, admin)), logLines: [] };
  } catch (err) {
    if (!(err instanceof FunctionError)) throw err;
    reply = { status: "error", errorMessage: err.message, logLines: [] };
    if (err.errorData !== undefined) reply.errorData = new Raw(valueJson(err.errorData));
  }
  if (mode.mode === "hang") return void hung.add(res);
  if (mode.mode === "error") return send(res, 500, { code: "InternalServerError", message: "simulated outage" });
  send(res, 200, reply);
}

const server = http.createServer((req, res) => {
  handleHttp(req, res).catch((err) => {
    process.stderr.write(`convex_server: ${err?.stack ?? err}\n`);
    send(res, 500, { code: "InternalServerError", message: String(err?.message ?? err) });
  });
});

// -- the sync WebSocket ----------------------------------------------------------------------------

function u64(n) {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt(n));
  return buf.toString("base64");
}

const connections = new Set();

class SyncConnection {
  constructor(ws) {
    this.ws = ws;
    this.queries = new Map(); // queryId -> {udfPath, args, last}
    this.version = { querySet: 0, ts: 0n, identity: 0 };
    this.admin = false;
    this.chain = Promise.resolve();
    ws.on("message", (data) => {
      let msg;
      try {
        msg = JSON.parse(data.toString("utf8"));
      } catch {
        return this.fatal("message is not JSON");
      }
      this.enqueue(() => this.handle(msg));
    });
    ws.on("close", () => connections.delete(this));
    connections.add(this);
  }

  enqueue(step) {
    this.chain = this.chain.then(step).catch((err) => {
      process.stderr.write(`convex_server sync: ${err?.stack ?? err}\n`);
      this.fatal(String(err?.message ?? err));
    });
    return this.chain;
  }

  send(msg) {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(message(msg));
  }

  fatal(error) {
    this.send({ type: "FatalError", error });
    this.ws.close(1011, error.slice(0, 100));
  }

  async run(queryId) {
    const q = this.queries.get(queryId);
    try {
      const result = await execute("query", q.udfPath, q.args, this.admin);
      return { type: "QueryUpdated", queryId, value: value(result), logLines: [], journal: null };
    } catch (err) {
      if (!(err instanceof FunctionError)) throw err;
      const failed = { type: "QueryFailed", queryId, errorMessage: err.message, logLines: [], journal: null };
      failed.errorData = err.errorData === undefined ? null : new Raw(valueJson(err.errorData));
      return failed;
    }
  }

  /** Move the client to a new version; `changed` lists the queries to re-run (all when null). */
  async transition(next, changed, extra = []) {
    const modifications = [...extra];
    for (const queryId of changed ?? [...this.queries.keys()]) {
      if (!this.queries.has(queryId)) continue;
      const mod = await this.run(queryId);
      const text = message(mod.type === "QueryUpdated" ? mod.value : mod.errorMessage);
      const q = this.queries.get(queryId);
      if (changed === null && q.last === text) continue;
      q.last = text;
      modifications.push(mod);
    }
    const endVersion = { ...this.version, ...next };
    if (endVersion.ts < this.version.ts) endVersion.ts = this.version.ts; // time never goes back
    this.send({
      type: "Transition",
      startVersion: { querySet: this.version.querySet, ts: u64(this.version.ts), identity: this.version.identity },
      endVersion: { querySet: endVersion.querySet, ts: u64(endVersion.ts), identity: endVersion.identity },
      modifications,
    });
    this.version = endVersion;
  }

  async handle(msg) {
    switch (msg.type) {
      case "Connect":
        this.sessionId = msg.sessionId;
        return;
      case "ModifyQuerySet": {
        if (msg.baseVersion !== this.version.querySet) {
          return this.fatal(`ModifyQuerySet base ${msg.baseVersion} != current ${this.version.querySet}`);
        }
        const added = [];
        const removed = [];
        for (const mod of msg.modifications) {
          if (mod.type === "Add") {
            const args = Array.isArray(mod.args) ? (mod.args[0] ?? {}) : (mod.args ?? {});
            this.queries.set(mod.queryId, { udfPath: mod.udfPath, args: jsonToConvex(args), last: null });
            added.push(mod.queryId);
          } else if (mod.type === "Remove") {
            this.queries.delete(mod.queryId);
            removed.push({ type: "QueryRemoved", queryId: mod.queryId });
          }
        }
        return this.transition({ querySet: msg.newVersion, ts: ts }, added, removed);
      }
      case "Authenticate": {
        if (msg.tokenType === "Admin" && msg.value !== opts.adminKey) {
          this.send({ type: "AuthError", error: "The provided admin key was invalid", baseVersion: msg.baseVersion, authUpdateAttempted: true });
          return;
        }
        this.admin = msg.tokenType === "Admin";
        return this.transition({ identity: msg.baseVersion + 1, ts: ts }, null);
      }
      case "Mutation": {
        const args = jsonToConvex(Array.isArray(msg.args) ? (msg.args[0] ?? {}) : (msg.args ?? {}));
        try {
          const result = await execute("mutation", msg.udfPath, args, this.admin);
          this.send({ type: "MutationResponse", requestId: msg.requestId, success: true, result: value(result), ts: u64(ts), logLines: [] });
        } catch (err) {
          if (!(err instanceof FunctionError)) throw err;
          const failed = { type: "MutationResponse", requestId: msg.requestId, success: false, result: err.message, logLines: [] };
          if (err.errorData !== undefined) failed.errorData = new Raw(valueJson(err.errorData));
          this.send(failed);
        }
        // Every mutation, success or failure, is followed by a transition that covers it.
        return this.transition({ ts: nextTs() }, null);
      }
      case "Action": {
        const args = jsonToConvex(Array.isArray(msg.args) ? (msg.args[0] ?? {}) : (msg.args ?? {}));
        try {
          const result = await execute("action", msg.udfPath, args, this.admin);
          this.send({ type: "ActionResponse", requestId: msg.requestId, success: true, result: value(result), logLines: [] });
        } catch (err) {
          if (!(err instanceof FunctionError)) throw err;
          const failed = { type: "ActionResponse", requestId: msg.requestId, success: false, result: err.message, logLines: [] };
          if (err.errorData !== undefined) failed.errorData = new Raw(valueJson(err.errorData));
          this.send(failed);
        }
        return;
      }
      case "Event":
        return;
      default:
        return this.fatal(`unknown message type ${msg.type}`);
    }
  }
}

/** A write committed: every subscriber moves to the new timestamp with its changed results. */
function onCommit() {
  const commitTs = nextTs();
  for (const conn of connections) conn.enqueue(() => conn.transition({ ts: commitTs }, null));
}

const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  const { pathname } = new URL(req.url, "http://localhost");
  if (mode.mode === "hang") return void hung.add(socket);
  if (!/^\/api\/([0-9][^/]*\/)?sync$/.test(pathname)) return void socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => new SyncConnection(ws));
});

const ping = setInterval(() => {
  for (const conn of connections) conn.send({ type: "Ping" });
}, opts.pingMs);
ping.unref();

// -- listening, stopping and control ----------------------------------------------------------------

function listen(port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, opts.host, () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });
}

function dropConnections() {
  for (const conn of connections) conn.ws.terminate();
  releaseHung();
  server.closeAllConnections();
}

let port = await listen(opts.port);
process.stdout.write(JSON.stringify({ event: "listening", port, adminKey: opts.adminKey }) + "\n");

async function stop() {
  clearInterval(ping);
  await flush();
  dropConnections();
  server.close();
  process.exit(0);
}

async function command(cmd) {
  switch (cmd.cmd) {
    case "mode": {
      const next = { mode: cmd.mode, afterCommit: Boolean(cmd.afterCommit), delayMs: cmd.delayMs ?? 0 };
      if (!["normal", "refuse", "hang", "error", "slow"].includes(next.mode)) throw new Error(`unknown mode ${cmd.mode}`);
      if (mode.mode === "refuse" && next.mode !== "refuse") port = await listen(port);
      if (next.mode === "refuse" && mode.mode !== "refuse") {
        server.close();
        dropConnections();
      }
      if (mode.mode === "hang" && next.mode !== "hang") releaseHung();
      mode = next;
      return {};
    }
    case "flush":
      await flush();
      return {};
    case "stop":
      await stop();
      return {};
    default:
      throw new Error(`unknown command ${cmd.cmd}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
let commands = Promise.resolve();
lines.on("line", (line) => {
  if (!line.trim()) return;
  commands = commands.then(async () => {
    let cmd = {};
    try {
      cmd = JSON.parse(line);
      const out = await command(cmd);
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, ...out }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: false, error: String(err?.message ?? err) }) + "\n");
    }
  });
});
lines.on("close", () => void stop());
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => void stop());
