// The SDK's filesystem calls (FilesystemAdapter) against the daemon, in a directory the C# runner owns
// (EXECD_INTEROP_DIR): create, write (bytes and a stream), info, read (whole, byte range, line offset/limit),
// list, search, move, permissions, replace, delete, and the 404 / 416 errors the SDK must be able to parse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createExecdClient, FilesystemAdapter } from "@alibaba-group/opensandbox/internal";
import { baseUrl, token } from "./sdk.mjs";

const D = process.env.EXECD_INTEROP_DIR;
if (!D) {
  throw new Error("EXECD_INTEROP_DIR is not set: run these tests through tests/Execd.Interop.Tests (dotnet test)");
}
const headers = token == null ? {} : { "X-EXECD-ACCESS-TOKEN": token };
const fs = new FilesystemAdapter(createExecdClient({ baseUrl, headers }), { baseUrl, headers });
const text = `${D}/a b/c/hello ü.txt`;

test("files: write, info, read with ranges, list, search", async () => {
  await fs.createDirectories([{ path: `${D}/a b/c`, mode: 750 }]);
  await fs.writeFiles([
    { path: text, data: "hello world\nline2\nline3\n", mode: 640, owner: "nobody", group: "nogroup" },
    { path: `${D}/bytes.bin`, data: new Uint8Array([1, 2, 3, 4, 5]) },
  ]);
  async function* chunks() {
    for (let i = 0; i < 16; i++) yield new Uint8Array(1 << 16).fill(i);
  }
  await fs.writeFiles([{ path: `${D}/streamed.bin`, data: chunks() }]);

  const info = await fs.getFileInfo([text, `${D}/a b/c`]);
  assert.equal(info[text].mode, 640);
  assert.equal(info[text].owner, "nobody");
  assert.ok(info[text].modifiedAt instanceof Date);
  assert.equal(info[`${D}/a b/c`].type, "directory");

  assert.equal(await fs.readFile(text), "hello world\nline2\nline3\n");
  assert.equal(await fs.readFile(text, { range: "bytes=0-4" }), "hello");
  assert.equal(await fs.readFile(text, { offset: 2, limit: 1 }), "line2\n");
  assert.deepEqual([...(await fs.readBytes(`${D}/bytes.bin`, { range: "bytes=-2" }))], [4, 5]);
  let n = 0;
  for await (const c of fs.readBytesStream(`${D}/streamed.bin`)) n += c.length;
  assert.equal(n, 16 << 16);

  const listed = (await fs.listDirectory({ path: D, depth: 3 })).map((e) => e.path);
  assert.ok(listed.includes(text), `listing: ${listed.join(", ")}`);
  const found = await fs.search({ path: D, pattern: "*.txt" });
  assert.deepEqual(found.map((f) => f.path), [text]);
});

test("files: move, permissions, replace, delete", async () => {
  await fs.writeFiles([{ path: `${D}/tomove.bin`, data: new Uint8Array([9, 9]) }, { path: `${D}/r.txt`, data: "line a\nline b\n" }]);
  await fs.moveFiles([{ src: `${D}/tomove.bin`, dest: `${D}/moved/bytes.bin` }]);
  await fs.setPermissions([{ path: `${D}/moved/bytes.bin`, mode: 600, owner: "nobody" }]);
  assert.equal((await fs.getFileInfo([`${D}/moved/bytes.bin`]))[`${D}/moved/bytes.bin`].mode, 600);

  await fs.replaceContents([{ path: `${D}/r.txt`, oldContent: "line", newContent: "LINE" }]);
  const detailed = await fs.replaceContentsDetailed([{ path: `${D}/r.txt`, oldContent: "LINE", newContent: "l" }]);
  assert.deepEqual(detailed, [{ path: `${D}/r.txt`, replacedCount: 2 }]);
  assert.equal(await fs.readFile(`${D}/r.txt`), "l a\nl b\n");

  await fs.deleteFiles([`${D}/moved/bytes.bin`]);
  await fs.deleteDirectories([`${D}/moved`]);
  await assert.rejects(fs.getFileInfo([`${D}/moved`]), (e) => e.statusCode === 404);
});

test("files: errors are parsed by the SDK (404 FILE_NOT_FOUND, 416)", async () => {
  await assert.rejects(fs.getFileInfo([`${D}/nope`]), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.error?.code, "FILE_NOT_FOUND");
    return true;
  });
  await fs.writeFiles([{ path: `${D}/small.txt`, data: "abc" }]);
  await assert.rejects(fs.readFile(`${D}/small.txt`, { range: "bytes=99999-" }), (e) => e.statusCode === 416);
});
