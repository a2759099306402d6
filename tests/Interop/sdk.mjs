// The official OpenSandbox JS SDK's execd adapters, pointed at the daemon the C# runner
// (tests/Execd.Interop.Tests) started: EXECD_INTEROP_URL, and EXECD_INTEROP_TOKEN when the daemon has one.
import {
  createExecdClient,
  CommandsAdapter,
  HealthAdapter,
  MetricsAdapter,
} from "@alibaba-group/opensandbox/internal";

export const baseUrl = process.env.EXECD_INTEROP_URL;
export const token = process.env.EXECD_INTEROP_TOKEN;
if (!baseUrl) {
  throw new Error("EXECD_INTEROP_URL is not set: run these tests through tests/Execd.Interop.Tests (dotnet test)");
}

/** Adapters built exactly as the SDK's own factory builds them, with the given token (none = no header). */
export function connect(accessToken = token) {
  const headers = accessToken == null ? {} : { "X-EXECD-ACCESS-TOKEN": accessToken };
  const client = createExecdClient({ baseUrl, headers });
  return {
    client,
    headers,
    commands: new CommandsAdapter(client, { baseUrl, headers }),
    health: new HealthAdapter(client),
    metrics: new MetricsAdapter(client),
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls status until the command is no longer running (bounded). */
export async function waitFinished(commands, id, limitMs = 15000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const status = await commands.getCommandStatus(id);
    if (!status.running) return status;
    if (Date.now() > deadline) throw new Error(`command ${id} still running after ${limitMs} ms`);
    await sleep(50);
  }
}

export const texts = (messages) => messages.map((m) => m.text);

export { CommandsAdapter };
