// Commands, health and metrics through the official SDK (no sessions, no filesystem).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, sleep, waitFinished, texts, baseUrl, token, CommandsAdapter } from "./sdk.mjs";

const { commands, health, metrics, client, headers } = connect();

test("ping: HealthAdapter.ping() is true", async () => {
  assert.equal(await health.ping(), true);
});

test("foreground run: id, stdout lines in order, exit code 0 from execution_complete", async () => {
  const execution = await commands.run("echo one; echo two; printf 'a\\n\\nb\\n'");
  assert.match(execution.id ?? "", /\S/);
  assert.deepEqual(texts(execution.logs.stdout), ["one", "two", "a", "\n", "b"]);
  assert.deepEqual(execution.logs.stderr, []);
  assert.equal(execution.error, undefined);
  assert.ok(execution.complete, "execution_complete seen");
  assert.equal(execution.exitCode, 0);
});

test("foreground run: stderr is separate and a non-zero exit becomes exitCode", async () => {
  const execution = await commands.run("echo out; echo err >&2; exit 7");
  assert.deepEqual(texts(execution.logs.stdout), ["out"]);
  assert.deepEqual(texts(execution.logs.stderr), ["err"]);
  assert.equal(execution.error?.value, "7");
  assert.ok(Array.isArray(execution.error?.traceback));
  assert.equal(execution.exitCode, 7);
});

test("foreground run: handlers see init, each line and completion as they arrive", async () => {
  const seen = [];
  const execution = await commands.run("echo x; echo y >&2", undefined, {
    onInit: (i) => seen.push(["init", i.id]),
    onStdout: (m) => seen.push(["stdout", m.text]),
    onStderr: (m) => seen.push(["stderr", m.text]),
    onExecutionComplete: (c) => seen.push(["complete", typeof c.executionTimeMs]),
  });
  assert.deepEqual(seen[0], ["init", execution.id]);
  assert.deepEqual(seen.filter(([k]) => k === "stdout"), [["stdout", "x"]]);
  assert.deepEqual(seen.filter(([k]) => k === "stderr"), [["stderr", "y"]]);
  assert.deepEqual(seen.at(-1), ["complete", "number"]);
});

test("foreground run: working directory and envs reach the command", async () => {
  const execution = await commands.run('pwd; echo "$GREETING"', { workingDirectory: "/", envs: { GREETING: "hello sdk" } });
  assert.deepEqual(texts(execution.logs.stdout), ["/", "hello sdk"]);
  assert.equal(execution.exitCode, 0);
});

test("foreground run: timeoutSeconds kills the command and the SDK infers -1", async () => {
  const started = Date.now();
  const execution = await commands.run("echo before; sleep 30; echo after", { timeoutSeconds: 0.5 });
  assert.ok(Date.now() - started < 10000, "returned long before the sleep ended");
  assert.deepEqual(texts(execution.logs.stdout), ["before"]);
  assert.equal(execution.exitCode, -1);
});

test("foreground runStream yields raw events: init first, then stdout, then execution_complete", async () => {
  const types = [];
  for await (const ev of commands.runStream("echo streamed")) types.push(ev.type);
  const meaningful = types.filter((t) => t !== "ping");
  assert.deepEqual(meaningful, ["init", "stdout", "execution_complete"]);
});

test("background run: init gives an id, no exit code is inferred, status and logs follow", async () => {
  const execution = await commands.run("echo bg-one; sleep 0.3; echo bg-two >&2; exit 3", { background: true });
  assert.match(execution.id ?? "", /\S/);
  assert.equal(execution.exitCode, undefined);
  assert.deepEqual(execution.logs.stdout, []);

  const first = await commands.getCommandStatus(execution.id);
  assert.equal(first.id, execution.id);
  assert.equal(first.content, "echo bg-one; sleep 0.3; echo bg-two >&2; exit 3");
  assert.ok(first.startedAt instanceof Date && !Number.isNaN(first.startedAt.getTime()));

  const done = await waitFinished(commands, execution.id);
  assert.equal(done.running, false);
  assert.equal(done.exitCode, 3);
  assert.ok(done.finishedAt instanceof Date);
  assert.ok(done.finishedAt.getTime() >= done.startedAt.getTime());

  const logs = await commands.getBackgroundCommandLogs(execution.id);
  assert.match(logs.content, /bg-one\n/);
  assert.match(logs.content, /bg-two\n/);
  assert.equal(typeof logs.cursor, "number");
});

test("background logs: the cursor returns only what was written after it", async () => {
  const execution = await commands.run("echo first; sleep 0.6; echo second", { background: true });
  let logs = { content: "", cursor: undefined };
  const deadline = Date.now() + 10000;
  while (!logs.content.includes("first") && Date.now() < deadline) {
    await sleep(20);
    logs = await commands.getBackgroundCommandLogs(execution.id);
  }
  assert.equal(logs.content, "first\n");
  const cursor = logs.cursor;
  assert.equal(typeof cursor, "number");

  await waitFinished(commands, execution.id);
  const rest = await commands.getBackgroundCommandLogs(execution.id, cursor);
  assert.equal(rest.content, "second\n");
  assert.ok(rest.cursor > cursor);

  // Nothing new past the end: an empty body the SDK reads as "".
  const none = await commands.getBackgroundCommandLogs(execution.id, rest.cursor);
  assert.equal(none.content, "");
  assert.equal(none.cursor, rest.cursor);
});

test("interrupt: a running background command stops and reports -1", async () => {
  const execution = await commands.run("sleep 30", { background: true });
  assert.equal((await commands.getCommandStatus(execution.id)).running, true);
  const started = Date.now();
  await commands.interrupt(execution.id);
  assert.ok(Date.now() - started < 10000);
  const status = await waitFinished(commands, execution.id, 5000);
  assert.equal(status.running, false);
  assert.equal(status.exitCode, -1);
});

test("interrupt: an unknown id throws a SandboxApiException with the server's code and message", async () => {
  await assert.rejects(commands.interrupt("no-such-command"), (err) => {
    assert.equal(err.name, "SandboxApiException");
    assert.equal(err.statusCode, 404);
    assert.equal(err.error.code, "INVALID_REQUEST_BODY");
    assert.match(err.message, /no-such-command/);
    return true;
  });
});

test("status: an unknown id throws with the server's code and message", async () => {
  await assert.rejects(commands.getCommandStatus("does-not-exist"), (err) => {
    assert.equal(err.name, "SandboxApiException");
    assert.equal(err.statusCode, 404);
    assert.equal(err.error.code, "INVALID_REQUEST_BODY");
    assert.match(err.error.message, /does-not-exist/);
    return true;
  });
});

test("logs: an unknown id throws with the server's code and message", async () => {
  await assert.rejects(commands.getBackgroundCommandLogs("does-not-exist"), (err) => {
    assert.equal(err.statusCode, 404);
    assert.equal(err.error.code, "INVALID_REQUEST_BODY");
    return true;
  });
});

test("gid without uid: the SDK refuses it client-side, and the server rejects it with a parseable error", async () => {
  await assert.rejects(commands.run("id", { gid: 1000 }), /uid is required when gid is provided/);

  // Bypass the client-side check: the adapter's fetch with a hand-made body, read by the SDK's stream parser.
  const bypass = new CommandsAdapter(client, {
    baseUrl,
    headers,
    fetch: (url, init) => fetch(url, { ...init, body: JSON.stringify({ command: "id", gid: 1000, background: false }) }),
  });
  await assert.rejects(bypass.run("id"), (err) => {
    assert.equal(err.name, "SandboxApiException");
    assert.equal(err.statusCode, 400);
    assert.equal(err.error.code, "INVALID_REQUEST_BODY");
    assert.match(err.error.message, /uid is required when gid is provided/);
    return true;
  });
});

test("blank command: rejected by the SDK; an empty command sent anyway is a parseable 400", async () => {
  await assert.rejects(commands.run("   "), /command cannot be empty/);
  const bypass = new CommandsAdapter(client, {
    baseUrl,
    headers,
    fetch: (url, init) => fetch(url, { ...init, body: JSON.stringify({ command: "", background: false }) }),
  });
  await assert.rejects(bypass.run("x"), (err) => {
    assert.equal(err.statusCode, 400);
    assert.equal(err.error.code, "INVALID_REQUEST_BODY");
    return true;
  });
});

test("metrics: MetricsAdapter gives finite numbers, an integer cpu count and a recent timestamp", async () => {
  const m = await metrics.getMetrics();
  assert.ok(Number.isInteger(m.cpuCount) && m.cpuCount >= 1, `cpuCount ${m.cpuCount}`);
  for (const key of ["cpuUsedPercentage", "memoryTotalMiB", "memoryUsedMiB", "timestamp"]) {
    assert.ok(Number.isFinite(m[key]), `${key} ${m[key]}`);
  }
  assert.ok(m.memoryTotalMiB > 0 && m.memoryUsedMiB > 0 && m.memoryUsedMiB <= m.memoryTotalMiB);
  assert.ok(Math.abs(m.timestamp - Date.now()) < 60000, `timestamp ${m.timestamp}`);
});

test("access token: a wrong or missing token gives a SandboxApiException on every adapter", async () => {
  assert.ok(token, "the runner starts the daemon with an access token (EXECD_INTEROP_TOKEN)");
  for (const wrong of ["wrong-token", null]) {
    const bad = connect(wrong);
    await assert.rejects(bad.health.ping(), (err) => {
      assert.equal(err.name, "SandboxApiException");
      assert.equal(err.statusCode, 401);
      assert.equal(err.error.code, "UNAUTHORIZED");
      return true;
    });
    await assert.rejects(bad.metrics.getMetrics(), (err) => err.statusCode === 401 && err.error.code === "UNAUTHORIZED");
    await assert.rejects(bad.commands.run("echo never"), (err) => {
      assert.equal(err.statusCode, 401);
      assert.equal(err.error.code, "UNAUTHORIZED");
      assert.match(err.message, /X-EXECD-ACCESS-TOKEN/);
      return true;
    });
    await assert.rejects(bad.commands.getCommandStatus("abc"), (err) => err.statusCode === 401);
  }
});
