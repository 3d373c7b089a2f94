import { test } from "node:test";
import assert from "node:assert/strict";
import { createSseParser, jsonData, readStream } from "../../extension/src/lib/sse.js";

function collect() {
  const events = [];
  const parser = createSseParser((e) => events.push(e));
  return { events, parser };
}

test("messages with id, event and JSON data, as the service sends them", () => {
  const { events, parser } = collect();
  parser.feed('retry: 1000\n\nid: 7\nevent: pending\ndata: {"pending_id": "p1"}\n\n: heartbeat\n\n');
  assert.deepEqual(events, [{ id: "7", event: "pending", data: '{"pending_id": "p1"}' }]);
  assert.equal(parser.state.retry, 1000);
  assert.equal(parser.state.lastEventId, "7");
  assert.deepEqual(jsonData(events[0]), { pending_id: "p1" });
});

test("chunks split anywhere, CRLF and CR line ends, multi-line data", () => {
  const { events, parser } = collect();
  const text = "id: 1\r\nevent: notice\r\ndata: line one\r\ndata: line two\r\n\r\nid: 2\rdata:x\r\r\n"; // a CR that ends the buffer waits: it may be half of a CRLF
  for (const ch of text) parser.feed(ch);
  assert.deepEqual(events, [{ id: "1", event: "notice", data: "line one\nline two" }, { id: "2", event: "message", data: "x" }]);
});

test("comments and a message without data dispatch nothing; the id is kept for the next one", () => {
  const { events, parser } = collect();
  parser.feed(": hello\n\nid: 9\n\ndata: after\n\n");
  assert.deepEqual(events, [{ id: "9", event: "message", data: "after" }]);
  assert.equal(jsonData(events[0]), null);
});

test("a whole response body is read to its end", async () => {
  const { events, parser } = collect();
  const body = new Response('id: 3\nevent: decided\ndata: {"pending_id": "p"}\n\nid: 4\nevent: expired\ndata: {}\n\n');
  await readStream(body, parser);
  assert.deepEqual(events.map((e) => e.event), ["decided", "expired"]);
});
