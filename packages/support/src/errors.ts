/**
 * The error codes the support chat sends in `error` frames (and the one HTTP answer of its
 * own). Documented in docs/support-chat.md ("Error codes"); a test fails when a code is
 * missing there.
 */
export const SUPPORT_ERROR_CODES = {
  SUPPORT_BAD_FRAME: 'A frame the chat cannot use: not JSON, no `type`, an unknown type, a message without text or over 2,000 characters, a frame before `hello`, or an agent action on a conversation the agent is not in. The socket stays open.',
  SUPPORT_TOO_FAST: 'More than 30 frames in 10 s on one socket; the frame is dropped. Slow down.',
  SUPPORT_AGENT_TOKEN: 'The agent token is wrong (the agent socket is then closed with 4401), or `GET /support/api/conversations` came without `Authorization: Bearer <agent token>` (401).',
  SUPPORT_INTERNAL: 'The chat failed to handle a customer message (logged with the conversation id); send it again.',
} as const;

export type SupportErrorCode = keyof typeof SUPPORT_ERROR_CODES;
