// Sessions through the official SDK: createSession / runInSession / deleteSession.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, texts } from "./sdk.mjs";

const { commands } = connect();

test("session: state (cwd, variables) persists between runs, and exit codes are inferred", async () => {
  const id = await commands.createSession();
  assert.equal(typeof id, "string");
  assert.match(id, /\S/);
  try {
    const first = await commands.runInSession(id, "cd / && export SESSION_VAR=kept && echo set");
    assert.deepEqual(texts(first.logs.stdout), ["set"]);
    assert.equal(first.exitCode, 0);

    const second = await commands.runInSession(id, 'pwd; echo "$SESSION_VAR"');
    assert.deepEqual(texts(second.logs.stdout), ["/", "kept"]);
    assert.equal(second.exitCode, 0);

    const failing = await commands.runInSession(id, "echo oops >&2; false");
    assert.deepEqual(texts(failing.logs.stderr), ["oops"]);
    assert.equal(failing.exitCode, 1);
  } finally {
    await commands.deleteSession(id);
  }
});

test("session: created with a working directory, a run's cwd overrides it for that run", async () => {
  const id = await commands.createSession({ workingDirectory: "/" });
  try {
    assert.deepEqual(texts((await commands.runInSession(id, "pwd")).logs.stdout), ["/"]);
    assert.deepEqual(texts((await commands.runInSession(id, "pwd", { workingDirectory: "/usr" })).logs.stdout), ["/usr"]);
  } finally {
    await commands.deleteSession(id);
  }
});

test("session: deleted sessions cannot run, and unknown sessions give parseable errors", async () => {
  const id = await commands.createSession();
  await commands.deleteSession(id);
  await assert.rejects(commands.runInSession(id, "echo gone"), (err) => {
    assert.equal(err.name, "SandboxApiException");
    assert.ok(err.statusCode >= 400 && err.statusCode < 500, `status ${err.statusCode}`);
    assert.match(err.error.code, /\S/);
    return true;
  });
  await assert.rejects(commands.deleteSession("no-such-session"), (err) => {
    assert.ok(err.statusCode >= 400 && err.statusCode < 500, `status ${err.statusCode}`);
    assert.match(err.error.code, /\S/);
    return true;
  });
});
