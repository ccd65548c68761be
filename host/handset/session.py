"""The handset's session layer: sequence numbers, nonces, resync, timeouts, retries, trace.

One ``Session.send()`` is one request/response exchange with the pod, the way the real PDM does it
(PROTOCOL-NOTES §1.2, §3.3):

* the request gets the next sequence number N (the caller may force one: pairing uses 0 twice);
  the reply must carry the expected address and seq (N+1) & 15, anything else is ignored;
* every nonce-bearing block (08 11 19 1A 1C 1F) gets the same nonce, ``NonceState.current()``;
  the nonce advances once per message and the new state is persisted *before* the bytes go out;
* when no valid reply comes within the timeout, the SAME bytes are sent again (the pod runs a
  repeated message at most once and answers it again); after the last attempt ``NoReply``;
* on ``06 03 14 WWWW`` (bad nonce) the seed is recovered with ``eros.nonce.seed_from_resync``, the
  nonce blocks are rebuilt from the new state and the message is resent ONCE with the same seq;
  a second bad nonce raises ``NonceResyncFailed``;
* replies are matched to the message just sent: before every resend the replies already waiting
  are discarded, and a reply identical to one this exchange already consumed (a duplicate on the
  radio) is ignored, so a stale refusal is never taken as the answer to the resend;
* bench requests carry an ``id`` that the reply echoes; a reply with another id is stale and dropped.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from eros import constants as C
from eros import message as eros_message
from eros import nonce as eros_nonce
from eros.errors import ProtocolError
from handset import render
from handset.errors import BadReply, NonceResyncFailed, PodUnreachable
from handset.transport import CH_BENCH, CH_LOG, CH_MESSAGE, Link

DEFAULT_REPLY_TIMEOUT_S = 1.5
DEFAULT_ATTEMPTS = 3
NONCE_BLOCKS = tuple(C.NONCE_BLOCKS)


@dataclass
class Exchange:
    """One request and its reply.

    :ivar seq: the request's sequence number.
    :ivar request: the exact bytes last sent.
    :ivar reply: the parsed reply message (``eros.message.parse_message`` dict), None if none came.
    :ivar attempts: how many times bytes went out (retries and the resync resend included).
    :ivar nonce: the nonce the last request carried (None without nonce blocks).
    :ivar resynced: the nonce was resynchronised during this exchange.
    :ivar retransmitted: the same bytes went out more than once (a reply was lost): an error
        reply may then answer the repeat of a message the pod already ran.
    """

    seq: int
    request: bytes
    reply: dict | None = None
    attempts: int = 0
    nonce: int | None = None
    resynced: bool = False
    retransmitted: bool = False

    def blocks(self) -> list[dict]:
        """The reply's blocks (empty without a reply)."""
        return list(self.reply["blocks"]) if self.reply else []


class NoReply(PodUnreachable):
    """No valid reply after every attempt; ``.exchange`` tells what went out (it may have run)."""

    def __init__(self, sentence: str, exchange: Exchange) -> None:
        super().__init__(sentence)
        self.exchange = exchange


class Session:
    """Request/response exchanges with one pod over a ``Link``.

    :param link: the open link.
    :param address: the pod's address (messages and expected replies use it unless overridden).
    :param lot: the pod's lot number (nonce generator and resync).
    :param tid: the pod's TID.
    :param nonce: the nonce state; None before pairing (nonce blocks then cannot be sent).
    :param next_seq: the sequence number of the next new message.
    :param reply_timeout_s: how long to wait for each reply before resending.
    :param attempts: how many times the same bytes are sent before giving up.
    :param persist: called after the nonce state or the sequence number changed, before the bytes
        go out, so that a crash never lets the handset reuse a nonce.
    :param trace: a text file; every frame is written to it, decoded.
    """

    def __init__(
        self,
        link: Link,
        address: int = C.ADDRESS_PAIRING,
        lot: int = 0,
        tid: int = 0,
        nonce: eros_nonce.NonceState | None = None,
        next_seq: int = 0,
        reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        persist: Callable[["Session"], None] | None = None,
        trace: TextIO | None = None,
    ) -> None:
        self.link = link
        self.address = address
        self.lot = lot
        self.tid = tid
        self.nonce = nonce
        self.next_seq = next_seq & C.SEQ_MASK
        self.reply_timeout_s = reply_timeout_s
        self.attempts = max(1, attempts)
        self.persist = persist or (lambda session: None)
        self.trace = trace
        #: how long a bench operation may take (a slow board is slower, not failed)
        self.bench_timeout_s = max(5.0, 4 * reply_timeout_s)
        self._bench_id = int(time.time() * 1000) & 0xFFFFFF  # distinct from an earlier handset's ids
        if trace is not None:
            link.hooks.append(self._trace_frame)

    # -- messages --------------------------------------------------------------------------

    def send(
        self,
        blocks: list[dict],
        followup: bool = False,
        seq: int | None = None,
        address: int | None = None,
        reply_address: int | None = None,
        accept: Callable[[dict], bool] | None = None,
    ) -> Exchange:
        """Send one message and return the exchange with its valid reply.

        :param blocks: block dicts (SPEC §3); the ``nonce`` of nonce-bearing blocks is filled in here.
        :param followup: set the "expect critical follow-up" bit (the real PDM sets it on the
            activation basal schedule and on the cancel-all before deactivation).
        :param seq: force this sequence number (pairing); otherwise the next one is taken.
        :param address: the message address (default: the pod's).
        :param reply_address: the address the reply must carry (default: ``address``).
        :param accept: what kind of reply answers this message (pairing sends seq 0 twice, so the
            seq alone cannot tell the answer to the second from a late copy of the first's).
        :raises NoReply: nothing valid came back after every attempt.
        :raises NonceResyncFailed: the pod refused the nonce again after one resync.
        :raises PodUnreachable: the link broke.
        """
        seq = (self.next_seq if seq is None else seq) & C.SEQ_MASK
        self.next_seq = (seq + 2) & C.SEQ_MASK  # the pod answers seq + 1; the next request uses + 2
        address = self.address if address is None else address
        reply_address = address if reply_address is None else reply_address
        blocks = [dict(b) for b in blocks]
        has_nonce = any(b.get("type") in NONCE_BLOCKS for b in blocks)
        if has_nonce and self.nonce is None:
            raise BadReply("No nonce state: the pod must be paired before this command can be sent.")

        exchange = Exchange(seq=seq, request=b"")
        exchange.nonce = self._stamp_nonce(blocks) if has_nonce else None
        exchange.request = eros_message.build_message(address, seq, blocks, followup)
        self.persist(self)
        self.link.discard(CH_MESSAGE)  # late replies to earlier exchanges must not match this one

        resent_for_nonce = False
        consumed: list[bytes] = []
        while True:
            reply = self._transmit(exchange, reply_address, consumed, accept)
            if reply is None:
                raise NoReply(
                    f"The pod did not answer after {exchange.attempts} tries: bring the handset closer to the pod "
                    "(or check that the emulator runs), then read the status to see whether the command ran.",
                    exchange,
                )
            error = _first(reply, C.BLOCK_ERROR)
            if error is None or error.get("code") != C.ERROR_BAD_NONCE:
                exchange.reply = reply
                return exchange
            if exchange.retransmitted:
                # The pod may have run the first copy (its nonce then moved on, so the repeat is
                # "stale"): resending with a fresh nonce could run the command twice. Follow the
                # pod's seed and hand the ambiguous reply back; the caller settles it with a status read.
                if has_nonce and exchange.nonce is not None:
                    seed = eros_nonce.seed_from_resync(exchange.nonce, seq, self.lot, self.tid, error["word"])
                    self.nonce = eros_nonce.NonceState(self.lot, self.tid, seed)
                    self.persist(self)
                exchange.reply = reply
                return exchange
            if not has_nonce or exchange.nonce is None:
                raise BadReply("The pod reported a bad nonce for a message without a nonce: the pod emulator is confused; restart it.")
            # Bad nonce: recover the pod's new seed from the word, rebuild the nonce blocks.
            seed = eros_nonce.seed_from_resync(exchange.nonce, seq, self.lot, self.tid, error["word"])
            self.nonce = eros_nonce.NonceState(self.lot, self.tid, seed)
            if resent_for_nonce:
                self.persist(self)
                raise NonceResyncFailed(
                    "The pod refused the nonce twice, even after resynchronising: the command was not run. "
                    "Read the status with `handset status` before sending it again."
                )
            resent_for_nonce = True
            exchange.resynced = True
            exchange.nonce = self._stamp_nonce(blocks)
            exchange.request = eros_message.build_message(address, seq, blocks, followup)
            self.persist(self)
            # A duplicate of the refusal may be waiting: it answers the old bytes, not the resend.
            self._drop_waiting("before the resend after a bad nonce")

    def _stamp_nonce(self, blocks: list[dict]) -> int:
        """Put the current nonce in every nonce block (one nonce per message), then advance."""
        assert self.nonce is not None
        value = self.nonce.current()
        for b in blocks:
            if b.get("type") in NONCE_BLOCKS:
                b["nonce"] = value
        self.nonce.advance()
        return value

    def _drop_waiting(self, why: str) -> None:
        for stale in self.link.discard(CH_MESSAGE):
            self._note(f"discarded a waiting reply {why}: {stale.hex()}")

    def _transmit(self, exchange: Exchange, reply_address: int, consumed: list[bytes],
                  accept: Callable[[dict], bool] | None = None) -> dict | None:
        """Send the exchange's bytes up to ``attempts`` times; the first valid reply, or None.

        ``consumed`` holds the replies this exchange already acted on: a copy of one is a duplicate.
        """
        want_seq = (exchange.seq + 1) & C.SEQ_MASK
        for attempt in range(self.attempts):
            if attempt:
                exchange.retransmitted = True
            self.link.send(CH_MESSAGE, exchange.request)
            exchange.attempts += 1
            reply = self._await_reply(reply_address, want_seq, consumed, accept)
            if reply is not None:
                return reply
        return None

    def _await_reply(self, reply_address: int, want_seq: int, consumed: list[bytes],
                     accept: Callable[[dict], bool] | None = None) -> dict | None:
        """Wait up to the reply timeout for a new reply with the right address and seq."""
        deadline = time.monotonic() + self.reply_timeout_s
        while True:
            payload = self.link.receive(CH_MESSAGE, max(0.0, deadline - time.monotonic()))
            if payload is None:
                return None
            if payload in consumed:
                self._note(f"ignored a duplicate of a reply already handled: {payload.hex()}")
                continue
            try:
                reply = eros_message.parse_message(payload)
            except (ProtocolError, ValueError) as exc:
                self._note(f"ignored a garbled reply ({exc})")
                continue
            if reply["address"] != reply_address or reply["seq"] != want_seq:
                self._note(
                    f"ignored a reply for address {reply['address']:08x} seq {reply['seq']} "
                    f"(expected {reply_address:08x} seq {want_seq})"
                )
                continue
            if accept is not None and not accept(reply):
                self._note(f"ignored a reply of another kind than this message expects: {payload.hex()}")
                continue
            consumed.append(bytes(payload))
            return reply

    # -- bench -----------------------------------------------------------------------------

    def bench(self, request: dict, timeout_s: float | None = None) -> dict:
        """One bench operation (channel B, JSON both ways), with a request ``id`` the reply must echo.

        :param timeout_s: how long to wait (default: ``bench_timeout_s``).
        :raises PodUnreachable: no answer within ``timeout_s``.
        :raises BadReply: the answer is not a JSON object.
        """
        timeout_s = self.bench_timeout_s if timeout_s is None else timeout_s
        self._bench_id = (self._bench_id + 1) & 0x7FFFFFFF
        ident = self._bench_id
        self.link.discard(CH_BENCH)
        self.link.send(CH_BENCH, json.dumps({**request, "id": ident}, separators=(",", ":")).encode())
        deadline = time.monotonic() + timeout_s
        while True:
            payload = self.link.receive(CH_BENCH, max(0.0, deadline - time.monotonic()))
            if payload is None:
                raise PodUnreachable(
                    f"The pod emulator did not answer the bench operation {request.get('op')!r} within {timeout_s:g} s: "
                    "check that it runs with the bench enabled (a slow board may need a longer --timeout)."
                )
            try:
                answer = json.loads(payload)
            except ValueError as exc:
                raise BadReply(f"The bench answer is not JSON ({exc}): the emulator and the handset do not match.") from exc
            if not isinstance(answer, dict):
                raise BadReply("The bench answer is not a JSON object: the emulator and the handset do not match.")
            # A reply with another id answers an earlier request that timed out: stale, drop it.
            if "id" in answer and answer["id"] != ident:
                self._note(f"ignored a stale bench reply (id {answer['id']}, expected {ident})")
                continue
            return answer

    # -- trace -----------------------------------------------------------------------------

    def _note(self, text: str) -> None:
        if self.trace is not None:
            self.trace.write(f"{_stamp()} # {text}\n")
            self.trace.flush()

    def _trace_frame(self, direction: str, channel: int, payload: bytes) -> None:
        if self.trace is None:
            return
        if channel == CH_LOG:
            line = f"{_stamp()} {direction} L {payload.decode('utf-8', 'replace')}"
        elif channel == CH_BENCH:
            line = f"{_stamp()} {direction} B {payload.decode('utf-8', 'replace')}"
        else:
            who = "PDM" if direction == ">" else "POD"
            line = f"{_stamp()} {direction} P {who} {payload.hex()}\n    {describe(payload)}"
        self.trace.write(line + "\n")
        self.trace.flush()


def describe(payload: bytes) -> str:
    """A decode of a message for the trace: a summary line, then one line per block."""
    try:
        msg = eros_message.parse_message(payload)
    except (ProtocolError, ValueError) as exc:
        return f"undecodable: {exc}"
    lines = [render.message_summary(msg)]
    lines += [render.block_summary(block) for block in msg["blocks"]]
    return "\n    ".join(lines)



def _first(message: dict, block_type: int) -> dict | None:
    for b in message["blocks"]:
        if b.get("type") == block_type:
            return b
    return None


def _stamp() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S.%f")[:-3]
