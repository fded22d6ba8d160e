// A streaming reader of multipart/x-mixed-replace (the MJPEG fallback,
// GET /api/v1/streams/{name}/mjpeg): bytes go in as they arrive, whole parts come out with their
// headers (lower-cased names) and body. A part with Content-Length is cut at that length;
// without one it ends at the next boundary line. Pure (no DOM), so node tests drive it.

const CRLFCRLF = [13, 10, 13, 10];

// The boundary of a Content-Type value, without the leading "--"; null when there is none.
export function boundaryOf(contentType) {
  const m = /boundary="?([^";,]+)"?/i.exec(contentType || '');
  if (!m) return null;
  return m[1].startsWith('--') ? m[1].slice(2) : m[1];
}

function indexOf(hay, needle, from) {
  outer: for (let i = Math.max(0, from); i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export class MultipartParser {
  // maxPartBytes bounds what one part may hold (a server that never sends a boundary cannot
  // make the page buffer without end): over it, push() throws.
  constructor(boundary, { maxPartBytes = 16 << 20 } = {}) {
    this.delimiter = new TextEncoder().encode(`--${boundary}`);
    this.buf = new Uint8Array(0);
    this.maxPartBytes = maxPartBytes;
  }

  // Appends bytes; returns the parts completed by them: [{headers: {name: value}, body}].
  push(chunk) {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
    const parts = [];
    for (;;) {
      const start = indexOf(this.buf, this.delimiter, 0);
      if (start < 0) break;
      const headEnd = indexOf(this.buf, CRLFCRLF, start);
      if (headEnd < 0) break;
      const headText = new TextDecoder().decode(this.buf.subarray(start + this.delimiter.length, headEnd));
      const headers = {};
      for (const line of headText.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const bodyStart = headEnd + 4;
      let bodyEnd;
      const len = Number.parseInt(headers['content-length'], 10);
      if (Number.isFinite(len) && len >= 0) {
        if (len > this.maxPartBytes) throw new Error(`multipart part of ${len} bytes is over the limit`);
        if (this.buf.length < bodyStart + len) break;
        bodyEnd = bodyStart + len;
      } else {
        const next = indexOf(this.buf, this.delimiter, bodyStart);
        if (next < 0) {
          if (this.buf.length - bodyStart > this.maxPartBytes) throw new Error('multipart part over the limit');
          break;
        }
        bodyEnd = next;
        while (bodyEnd > bodyStart && (this.buf[bodyEnd - 1] === 10 || this.buf[bodyEnd - 1] === 13)) bodyEnd--;
      }
      parts.push({ headers, body: this.buf.slice(bodyStart, bodyEnd) });
      this.buf = this.buf.slice(bodyEnd);
    }
    if (this.buf.length > this.maxPartBytes + 4096) throw new Error('multipart stream: no boundary in sight');
    return parts;
  }
}
