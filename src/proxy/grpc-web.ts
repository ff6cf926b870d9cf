/**
 * gRPC-Web (browsers) translated to gRPC on routes with `grpcWeb: true`, as Envoy's
 * `grpc_web` filter does: the request's content type becomes gRPC's (its body decoded
 * from base64 for `-text`), and the answer's trailers — which browsers cannot read as
 * HTTP trailers — are sent as a last message flagged 0x80 in the body
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md).
 */
import { Transform, type TransformCallback } from 'node:stream';

/** What the client sent: not gRPC-Web, its binary form, or its base64 text form. */
export const enum GrpcWeb {
  None = 0,
  Binary = 1,
  Text = 2,
}

/** The gRPC-Web form of a `content-type` value. */
export function grpcWebKind(value: string): GrpcWeb {
  const v = value.trimStart().toLowerCase();
  if (!v.startsWith('application/grpc-web')) return GrpcWeb.None;
  const rest = v.slice(20);
  if (rest.startsWith('-text')) return rest.length === 5 || rest[5] === '+' || rest[5] === ';' ? GrpcWeb.Text : GrpcWeb.None;
  return rest.length === 0 || rest[0] === '+' || rest[0] === ';' ? GrpcWeb.Binary : GrpcWeb.None;
}

/** `application/grpc-web[-text][+proto]` → `application/grpc[+proto]`: what the service is sent. */
export function grpcContentTypeOf(value: string): string {
  const m = /^\s*application\/grpc-web(?:-text)?(\+[^;\s]+)?/i.exec(value);
  return `application/grpc${m?.[1] ?? ''}`;
}

/** The content type of the answer to a gRPC-Web client: the service's, in the client's form. */
export function grpcWebContentTypeOf(serviceType: string | undefined, kind: GrpcWeb): string {
  const m = /^\s*application\/grpc(\+[^;\s]+)?/i.exec(serviceType ?? '');
  return `application/grpc-web${kind === GrpcWeb.Text ? '-text' : ''}${m?.[1] ?? '+proto'}`;
}

/** The trailer message of a gRPC-Web body: flag 0x80, length, then `name:value\r\n` lines (names lower case). */
export function trailerFrame(fields: readonly string[]): Buffer {
  let text = '';
  for (let i = 0; i < fields.length; i += 2) text += `${fields[i]!.toLowerCase()}:${fields[i + 1]!}\r\n`;
  const block = Buffer.from(text, 'latin1');
  const frame = Buffer.alloc(5 + block.length);
  frame[0] = 0x80;
  frame.writeUInt32BE(block.length, 1);
  block.copy(frame, 5);
  return frame;
}

/**
 * Decodes a `-text` request body: base64 across chunk boundaries, where a client may send
 * each message as its own padded run (`…==` then more), so padded quartets are decoded
 * one by one.
 */
export class Base64Decoder extends Transform {
  private carry = '';

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const text = this.carry + chunk.toString('latin1').replace(/\s+/g, '');
    const whole = text.length - (text.length % 4);
    this.carry = text.slice(whole);
    if (whole > 0) this.push(decodeQuartets(text.slice(0, whole)));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.carry.length > 0) done(new Error('gRPC-Web text body: base64 that does not end on a 4-character boundary'));
    else done();
  }
}

function decodeQuartets(text: string): Buffer {
  if (!text.includes('=')) return Buffer.from(text, 'base64');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < text.length; i += 4) {
    if (text.charCodeAt(i + 3) === 61 /* = */) {
      parts.push(Buffer.from(text.slice(run, i + 4), 'base64'));
      run = i + 4;
    }
  }
  if (run < text.length) parts.push(Buffer.from(text.slice(run), 'base64'));
  return Buffer.concat(parts);
}

/** Encodes a `-text` answer body as base64, 3-byte aligned across chunks; `end` pads what is left. */
export class Base64Encoder {
  private carry: Buffer | null = null;

  /** The base64 of what can be encoded so far ('' when less than 3 bytes are waiting). */
  push(chunk: Buffer): string {
    const data = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    const whole = data.length - (data.length % 3);
    this.carry = whole === data.length ? null : data.subarray(whole);
    return whole === 0 ? '' : data.toString('base64', 0, whole);
  }

  /** The padded base64 of the bytes still waiting. */
  end(): string {
    const rest = this.carry;
    this.carry = null;
    return rest === null ? '' : rest.toString('base64');
  }
}
