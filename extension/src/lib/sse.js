// Server-Sent Events, parsed by hand: a service worker has no EventSource, and EventSource cannot send the token.
// Plain module, no browser globals. Follows the WHATWG event-stream rules (fields, comments, CRLF, split chunks).

/** A parser fed text chunks as they arrive; calls onEvent({id, event, data}) for each complete message.
 * `lastEventId` keeps the last id seen (for reconnecting with Last-Event-ID); `retry` the server's advice. */
export function createSseParser(onEvent) {
  let buffer = "";
  let data = [];
  let event = "";
  const state = { lastEventId: "", retry: null };

  function line(text) {
    if (text === "") {
      if (data.length) onEvent({ id: state.lastEventId, event: event || "message", data: data.join("\n") });
      data = [];
      event = "";
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id" && !value.includes("\0")) state.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) state.retry = Number(value);
  }

  return {
    state,
    feed(chunk) {
      buffer += chunk;
      let m;
      while ((m = buffer.match(/\r\n|\r|\n/))) {
        if (m[0] === "\r" && m.index === buffer.length - 1) break; // a CR at the end may be half of a CRLF
        line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
    },
  };
}

/** Reads a fetch Response body to its end, feeding the parser; `onEvent` as for createSseParser. */
export async function readStream(response, parser) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
}

/** The message's JSON data, or null when it is not JSON. */
export function jsonData(message) {
  try {
    return JSON.parse(message.data);
  } catch {
    return null;
  }
}
