'use strict';
// An independent SMPP 3.4 SMSC for Herald's tests, built on the npm `smpp` package so that
// none of it shares code (or mistakes) with Herald's ESME. It records every submit_sm,
// answers as the control API's mode says, sends delivery receipts and inbound messages,
// and can drop or restart its connections. One READY line on stdout; nothing per PDU.

const http = require('http');
const smpp = require('smpp');

// Keep short_message and message_payload as raw bytes: the package would decode them into
// {udh, message} strings (and re-encode ours), which is lossy and not what we test.
for (const name of ['submit_sm', 'deliver_sm', 'data_sm']) {
  const params = smpp.commands[name].params;
  if (params.short_message) delete params.short_message.filter;
}
delete smpp.tlvs.message_payload.filter;

const STATUS = {
  OK: 0x00, INVCMDLEN: 0x02, INVCMDID: 0x03, INVBNDSTS: 0x04, ALYBND: 0x05, SYSERR: 0x08,
  INVDSTADR: 0x0B, INVPASWD: 0x0E, INVSYSID: 0x0F, MSGQFUL: 0x14, THROTTLED: 0x58,
};
const MESSAGE_STATE = {
  DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8,
};
const STATS = Object.keys(MESSAGE_STATE);
const ID_FORMATS = ['hex', 'decimal'];
const RESP_DELAY_AFTER_RECEIPT_MS = 50;

// ---------------------------------------------------------------- command line

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, controlPort: 0, accounts: new Map(), idStart: null,
    exitOnStdinClose: false };
  let systemId = 'esme1';
  let password = 'pw123';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--port') opts.port = Number(value());
    else if (flag === '--control-port') opts.controlPort = Number(value());
    else if (flag === '--host') opts.host = value();
    else if (flag === '--system-id') systemId = value();
    else if (flag === '--password') password = value();
    else if (flag === '--account') {
      const [id, ...rest] = value().split(':');
      opts.accounts.set(id, rest.join(':'));
    } else if (flag === '--id-start') opts.idStart = Number(value());
    else if (flag === '--exit-on-stdin-close') opts.exitOnStdinClose = true;
    else throw new Error(`unknown argument ${flag}`);
  }
  opts.accounts.set(systemId, password);
  return opts;
}

// ---------------------------------------------------------------- text

const GSM_BASIC = [
  '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
  'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\x1b', 'Æ', 'æ', 'ß', 'É',
  ...' !"#¤%&\'()*+,-./0123456789:;<=>?',
  '¡', ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
  '¿', ...'abcdefghijklmnopqrstuvwxyz', 'ä', 'ö', 'ñ', 'ü', 'à',
];
const GSM_EXTENSION = { 0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\', 0x3C: '[',
  0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€' };
const GSM_ENCODE = new Map();
GSM_BASIC.forEach((ch, code) => { if (code !== 0x1B) GSM_ENCODE.set(ch, [code]); });
for (const [code, ch] of Object.entries(GSM_EXTENSION)) GSM_ENCODE.set(ch, [0x1B, Number(code)]);

function decodeGsm(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const code = bytes[i] & 0x7F;
    if (code === 0x1B && i + 1 < bytes.length) {
      const next = bytes[++i] & 0x7F;
      out += GSM_EXTENSION[next] || GSM_BASIC[next];
    } else {
      out += GSM_BASIC[code];
    }
  }
  return out;
}

function decodeUcs2(bytes) {
  const even = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)));
  return even.swap16().toString('utf16le');
}

function decodeText(bytes, dataCoding) {
  if (dataCoding === 0) return decodeGsm(bytes);
  if (dataCoding === 8) return decodeUcs2(bytes);
  if (dataCoding === 1) return bytes.toString('ascii');
  if (dataCoding === 3) return bytes.toString('latin1');
  return null;
}

// One array of bytes per character (code point), so that a split never cuts an escape
// pair or a surrogate pair.
function encodeUnits(text, encoding) {
  return Array.from(text, (ch) => {
    if (encoding === 'ucs2') return Buffer.from(ch, 'utf16le').swap16();
    const code = GSM_ENCODE.get(ch);
    if (!code) throw new HttpError(400, `character ${JSON.stringify(ch)} is not in GSM 03.38`);
    return Buffer.from(code);
  });
}

// ---------------------------------------------------------------- submit_sm parsing

function parseUdh(body) {
  if (body.length < 1 || body[0] + 1 > body.length) return { udh: null, rest: body };
  const end = body[0] + 1;
  let concat = null;
  for (let i = 1; i + 1 < end;) {
    const iei = body[i];
    const len = body[i + 1];
    const data = body.subarray(i + 2, i + 2 + len);
    if (iei === 0x00 && len === 3) concat = { ref: data[0], total: data[1], seq: data[2] };
    if (iei === 0x08 && len === 4) concat = { ref: data.readUInt16BE(0), total: data[2], seq: data[3] };
    i += 2 + len;
  }
  return { udh: concat, rest: body.subarray(end) };
}

function describeSubmit(pdu) {
  const shortMessage = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
  const payload = Buffer.isBuffer(pdu.message_payload) ? pdu.message_payload : null;
  const body = shortMessage.length === 0 && payload ? payload : shortMessage;
  const hasUdh = (pdu.esm_class & 0x40) !== 0;
  const { udh, rest } = hasUdh ? parseUdh(body) : { udh: null, rest: body };
  const hasSar = pdu.sar_msg_ref_num !== undefined;
  const sar = hasSar
    ? { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum }
    : null;
  return {
    sequence: pdu.sequence_number,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery,
    data_coding: pdu.data_coding,
    short_message_hex: shortMessage.toString('hex'),
    udh,
    sar,
    message_payload_hex: payload ? payload.toString('hex') : null,
    text: decodeText(rest, pdu.data_coding),
  };
}

// ---------------------------------------------------------------- state

function defaultMode() {
  return {
    receipt: 'DELIVRD', err: null, receipt_delay_ms: 0, receipt_tlvs: true, receipt_parts: 'all',
    receipt_before_resp: false, refuse_status: null, throttle_next: 0, queue_full_next: 0,
    nack_next: 0, drop_resp_next: 0, id_format: 'hex', receipt_id_format: 'same',
    receipt_tlv_id_format: 'same', rules: [], keep_records: true,
  };
}

function emptyStats() {
  return { binds: 0, bind_failures: 0, enquire_links: 0, unbinds: 0, unbinds_sent: 0,
    submits: 0, receipts_sent: 0, deliver_resps: 0, inbound_sent: 0, errors: 0 };
}

const opts = parseArgs(process.argv.slice(2));
const state = {
  mode: defaultMode(),
  records: [],
  receipts: [],
  counters: emptyStats(),
  peers: new Map(), // session id -> peer, in connection order
  held: new Map(), // system_id -> receipts waiting for a receiver to bind
  nextSessionId: 1,
  nextMessageId: opts.idStart ?? 0x100000 + Math.floor(Math.random() * 0x7fffffff) * 16,
  nextInboundRef: 1,
};

// ---------------------------------------------------------------- batched timers

// One setImmediate for everything due now and one setTimeout for the earliest later job,
// however many messages are in flight.
const scheduler = {
  now: [], immediate: false, timed: [], timer: null,
  soon(fn) {
    this.now.push(fn);
    if (!this.immediate) {
      this.immediate = true;
      setImmediate(() => this.flushNow());
    }
  },
  flushNow() {
    this.immediate = false;
    const batch = this.now;
    this.now = [];
    for (const fn of batch) fn();
  },
  after(ms, fn) {
    if (ms <= 0) return this.soon(fn);
    const due = Date.now() + ms;
    let i = this.timed.length;
    while (i > 0 && this.timed[i - 1].due > due) i--;
    this.timed.splice(i, 0, { due, fn });
    if (i === 0) this.arm();
  },
  arm() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.timed.length === 0) return;
    this.timer = setTimeout(() => this.flushTimed(), Math.max(0, this.timed[0].due - Date.now()));
  },
  flushTimed() {
    const now = Date.now();
    let i = 0;
    while (i < this.timed.length && this.timed[i].due <= now) i++;
    const batch = this.timed.splice(0, i);
    this.timer = null;
    this.arm();
    for (const job of batch) job.fn();
  },
};

// ---------------------------------------------------------------- sessions

// Writes within one turn of the event loop go out together.
function send(peer, pdu, callback) {
  if (peer.closed) return false;
  const socket = peer.session.socket;
  if (!peer.corked) {
    peer.corked = true;
    socket.cork();
    process.nextTick(() => { peer.corked = false; socket.uncork(); });
  }
  return peer.session.send(pdu, callback);
}

const canReceive = (peer) => !peer.closed && (peer.bind_type === 'transceiver' || peer.bind_type === 'receiver');
const canTransmit = (peer) => peer.bind_type === 'transceiver' || peer.bind_type === 'transmitter';

function receiverFor(systemId, preferred) {
  if (preferred && canReceive(preferred)) return preferred;
  for (const peer of state.peers.values()) {
    if (canReceive(peer) && (systemId === null || peer.system_id === systemId)) return peer;
  }
  return null;
}

function onBind(peer, pdu) {
  const kind = pdu.command.replace('bind_', '');
  const expected = opts.accounts.get(pdu.system_id);
  let status = STATUS.OK;
  if (peer.bind_type) status = STATUS.ALYBND;
  else if (expected === undefined) status = STATUS.INVSYSID;
  else if (expected !== pdu.password) status = STATUS.INVPASWD;
  if (status !== STATUS.OK) {
    state.counters.bind_failures++;
    send(peer, pdu.response({ command_status: status }));
    return;
  }
  state.counters.binds++;
  peer.system_id = pdu.system_id;
  peer.bind_type = kind;
  send(peer, pdu.response({ system_id: 'herald-smpp-peer' }));
  if (canReceive(peer)) scheduler.soon(() => releaseHeld(peer.system_id));
}

function onPdu(peer, pdu) {
  switch (pdu.command) {
    case 'bind_transceiver':
    case 'bind_transmitter':
    case 'bind_receiver':
      return onBind(peer, pdu);
    case 'enquire_link':
      state.counters.enquire_links++;
      return send(peer, pdu.response());
    case 'unbind':
      state.counters.unbinds++;
      peer.bind_type = null;
      return send(peer, pdu.response(), () => peer.session.close());
    case 'unbind_resp':
      return peer.session.close();
    case 'submit_sm':
      return onSubmit(peer, pdu);
    case 'deliver_sm_resp':
      state.counters.deliver_resps++;
      return undefined;
    case 'generic_nack':
    case 'enquire_link_resp':
      return undefined;
    default:
      if (pdu.isResponse()) return undefined;
      return send(peer, pdu.response({ command_status: STATUS.INVCMDID }));
  }
}

function onSession(session) {
  const peer = { id: state.nextSessionId++, session, system_id: null, bind_type: null,
    closed: false, corked: false, waiting: new Set() };
  state.peers.set(peer.id, peer);
  // As an SMSC should: a receipt or resp is not held back waiting for an ACK (Nagle).
  if (session.socket && session.socket.setNoDelay) session.socket.setNoDelay(true);
  session.on('pdu', (pdu) => {
    try {
      onPdu(peer, pdu);
    } catch (error) {
      report(error); // thrown out of here, it would stall the package's read loop
    }
  });
  session.on('error', () => session.destroy());
  session.on('close', () => {
    peer.closed = true;
    state.peers.delete(peer.id);
    for (const settle of peer.waiting) settle(null);
  });
}

function report(error) {
  state.counters.errors++;
  process.stderr.write(`smpp peer: ${error.stack || error}\n`);
}

// ---------------------------------------------------------------- submit_sm

function formatId(number, format) {
  return format === 'decimal' ? number.toString(10) : number.toString(16);
}

function ruleFor(destination) {
  const digits = String(destination).replace(/^\+/, '');
  return state.mode.rules.find((rule) => String(rule.destination).replace(/^\+/, '') === digits) || null;
}

// The status to answer, from the one-shot counters first, then the standing refusals.
function decideAnswer(rule) {
  const mode = state.mode;
  if (mode.drop_resp_next > 0) { mode.drop_resp_next--; return { response: 'none', status: null }; }
  if (mode.nack_next > 0) { mode.nack_next--; return { response: 'generic_nack', status: STATUS.SYSERR }; }
  if (mode.throttle_next > 0) { mode.throttle_next--; return { response: 'submit_sm_resp', status: STATUS.THROTTLED }; }
  if (mode.queue_full_next > 0) { mode.queue_full_next--; return { response: 'submit_sm_resp', status: STATUS.MSGQFUL }; }
  const refusal = rule && rule.status != null ? rule.status : mode.refuse_status;
  if (refusal) return { response: 'submit_sm_resp', status: refusal };
  return { response: 'submit_sm_resp', status: STATUS.OK };
}

// What a strict SMSC refuses before any mode applies: the wrong bind, a short PDU, no address.
function invalidity(peer, pdu) {
  if (!canTransmit(peer)) return STATUS.INVBNDSTS;
  if (!Buffer.isBuffer(pdu.short_message)) return STATUS.INVCMDLEN;
  if (!pdu.destination_addr) return STATUS.INVDSTADR;
  return null;
}

function onSubmit(peer, pdu) {
  state.counters.submits++;
  const record = { session: peer.id, system_id: peer.system_id, ...describeSubmit(pdu),
    message_id: null, status: null, response: null, receipt: null };
  if (state.mode.keep_records) state.records.push(record);
  const invalid = invalidity(peer, pdu);
  if (invalid) {
    Object.assign(record, { status: invalid, response: 'submit_sm_resp' });
    return send(peer, pdu.response({ command_status: invalid }));
  }
  const rule = ruleFor(record.destination_addr);
  const answer = decideAnswer(rule);
  Object.assign(record, answer);
  if (answer.response === 'none') return undefined;
  if (answer.response === 'generic_nack') {
    return send(peer, new smpp.PDU('generic_nack',
      { sequence_number: pdu.sequence_number, command_status: answer.status }));
  }
  if (answer.status !== STATUS.OK) return send(peer, pdu.response({ command_status: answer.status }));
  const number = state.nextMessageId++;
  record.message_id = formatId(number, state.mode.id_format);
  const resp = pdu.response({ message_id: record.message_id });
  const receipt = planReceipt(peer, record, number, rule);
  if (receipt && state.mode.receipt_before_resp) {
    deliverReceipt(receipt);
    scheduler.after(RESP_DELAY_AFTER_RECEIPT_MS, () => send(peer, resp));
    return undefined;
  }
  send(peer, resp);
  if (receipt) scheduler.after(state.mode.receipt_delay_ms, () => deliverReceipt(receipt));
  return undefined;
}

// ---------------------------------------------------------------- receipts

function wantsReceipt(record, stat) {
  const asked = record.registered_delivery & 0x03;
  if (stat === 'none' || asked === 0 || asked === 3) return false;
  if (asked === 2 && (stat === 'DELIVRD' || stat === 'ACCEPTD')) return false;
  const part = record.udh || record.sar;
  if (!part || part.total <= 1) return true;
  if (state.mode.receipt_parts === 'first') return part.seq === 1;
  if (state.mode.receipt_parts === 'last') return part.seq === part.total;
  return true;
}

function smppDate(date) {
  const two = (n) => String(n).padStart(2, '0');
  return two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate())
    + two(date.getUTCHours()) + two(date.getUTCMinutes());
}

function planReceipt(peer, record, number, rule) {
  const mode = state.mode;
  const stat = rule && rule.receipt ? rule.receipt : mode.receipt;
  if (!wantsReceipt(record, stat)) return null;
  const err = (rule && rule.err) || mode.err || (stat === 'DELIVRD' ? '000' : '001');
  const other = (format) => (format === 'same' ? record.message_id : formatId(number, format));
  const receiptId = other(mode.receipt_id_format);
  const submitDate = smppDate(new Date());
  record.receipt = stat;
  return {
    peer, system_id: peer.system_id, message_id: record.message_id, receipt_id: receiptId,
    tlv_id: mode.receipt_tlvs ? other(mode.receipt_tlv_id_format) : null,
    stat, err, source_addr: record.destination_addr, destination_addr: record.source_addr,
    source_addr_ton: record.dest_addr_ton, source_addr_npi: record.dest_addr_npi,
    dest_addr_ton: record.source_addr_ton, dest_addr_npi: record.source_addr_npi,
    text: `id:${receiptId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} `
      + `submit date:${submitDate} done date:{done} stat:${stat} err:${err} `
      + `text:${(record.text || '').slice(0, 20).replace(/[^\x20-\x7e]/g, '?')}`,
    session: null, sequence: null, resp_status: null,
  };
}

function hold(receipt) {
  if (!state.held.has(receipt.system_id)) state.held.set(receipt.system_id, []);
  state.held.get(receipt.system_id).push(receipt);
}

// To the submitting session if it can take it, else another receiver of the same system_id,
// else held until one binds (as an SMSC stores receipts for an absent ESME).
function deliverReceipt(receipt) {
  const target = receiverFor(receipt.system_id, receipt.peer);
  if (!target) return hold(receipt);
  const text = receipt.text.replace('{done}', smppDate(new Date()));
  const fields = {
    source_addr_ton: receipt.source_addr_ton, source_addr_npi: receipt.source_addr_npi,
    source_addr: receipt.source_addr, dest_addr_ton: receipt.dest_addr_ton,
    dest_addr_npi: receipt.dest_addr_npi, destination_addr: receipt.destination_addr,
    esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
  };
  if (receipt.tlv_id !== null) {
    fields.receipted_message_id = receipt.tlv_id;
    fields.message_state = MESSAGE_STATE[receipt.stat];
  }
  const pdu = new smpp.PDU('deliver_sm', fields);
  if (!send(target, pdu, (resp) => { receipt.resp_status = resp.command_status; })) return hold(receipt);
  Object.assign(receipt, { text, peer: null, session: target.id, sequence: pdu.sequence_number });
  state.counters.receipts_sent++;
  if (state.mode.keep_records) state.receipts.push(receipt);
  return undefined;
}

function releaseHeld(systemId) {
  const held = state.held.get(systemId) || [];
  state.held.delete(systemId);
  for (const receipt of held) deliverReceipt(receipt);
}

// ---------------------------------------------------------------- inbound (MO)

function addressOf(addr, ton, npi) {
  const text = String(addr);
  if (/^\+?\d+$/.test(text)) return { addr: text.replace(/^\+/, ''), ton: ton ?? 1, npi: npi ?? 1 };
  return { addr: text, ton: ton ?? 5, npi: npi ?? 0 };
}

function splitUnits(units, parts) {
  if (units.length < parts) throw new HttpError(400, `cannot split ${units.length} characters into ${parts} parts`);
  const chunks = [];
  for (let i = 0; i < parts; i++) {
    const from = Math.floor((i * units.length) / parts);
    const to = Math.floor(((i + 1) * units.length) / parts);
    chunks.push(Buffer.concat(units.slice(from, to)));
  }
  return chunks;
}

function inboundPdus(body) {
  const encoding = body.encoding || 'gsm';
  if (encoding !== 'gsm' && encoding !== 'ucs2') throw new HttpError(400, 'encoding must be gsm or ucs2');
  const parts = body.parts ?? 1;
  if (!Number.isInteger(parts) || parts < 1 || parts > 255) throw new HttpError(400, 'parts must be 1..255');
  if (body.message_payload && parts > 1) throw new HttpError(400, 'message_payload takes parts: 1');
  const source = addressOf(body.source, body.source_ton ?? body.ton, body.source_npi ?? body.npi);
  const dest = addressOf(body.destination, body.dest_ton ?? body.ton, body.dest_npi ?? body.npi);
  const base = { source_addr: source.addr, source_addr_ton: source.ton, source_addr_npi: source.npi,
    destination_addr: dest.addr, dest_addr_ton: dest.ton, dest_addr_npi: dest.npi,
    esm_class: 0x00, data_coding: encoding === 'ucs2' ? 8 : 0 };
  const units = encodeUnits(String(body.text ?? ''), encoding);
  if (body.message_payload) return [new smpp.PDU('deliver_sm', { ...base, message_payload: Buffer.concat(units) })];
  if (parts === 1) {
    const message = Buffer.concat(units);
    if (message.length > 140) throw new HttpError(400, `${message.length} octets do not fit one part`);
    return [new smpp.PDU('deliver_sm', { ...base, short_message: message })];
  }
  const ref = body.ref ?? (state.nextInboundRef++ % 256);
  const pdus = [];
  splitUnits(units, parts).forEach((chunk, i) => {
    if (chunk.length > 134) throw new HttpError(400, `part ${i + 1} has ${chunk.length} octets, over 134`);
    if (body.omit_part === i + 1) return;
    const udh = Buffer.from([0x05, 0x00, 0x03, ref & 0xFF, parts, i + 1]);
    pdus.push(new smpp.PDU('deliver_sm', { ...base, esm_class: 0x40, short_message: Buffer.concat([udh, chunk]) }));
  });
  return pdus;
}

function sendAwaitingResp(peer, pdu, timeoutMs) {
  return new Promise((resolve) => {
    let timer = null;
    const settle = (status) => {
      clearTimeout(timer);
      peer.waiting.delete(settle);
      resolve(status);
    };
    peer.waiting.add(settle);
    timer = setTimeout(() => settle(null), timeoutMs);
    if (!send(peer, pdu, (resp) => settle(resp.command_status))) settle(null);
  });
}

async function sendInbound(body) {
  const peer = receiverFor(body.system_id ?? null, null);
  if (!peer) throw new HttpError(409, 'no receiver or transceiver session is bound');
  const pdus = inboundPdus(body);
  state.counters.inbound_sent += pdus.length;
  const timeoutMs = body.timeout_ms ?? 5000;
  const statuses = await Promise.all(pdus.map((pdu) => sendAwaitingResp(peer, pdu, timeoutMs)));
  return { sent: pdus.length, statuses, session: peer.id };
}

// ---------------------------------------------------------------- control API

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const isCount = (v) => Number.isInteger(v) && v >= 0;
const MODE_CHECKS = {
  receipt: (v) => v === 'none' || STATS.includes(v),
  err: (v) => v === null || /^\d{3}$/.test(v),
  receipt_delay_ms: isCount,
  receipt_tlvs: (v) => typeof v === 'boolean',
  receipt_parts: (v) => ['all', 'first', 'last'].includes(v),
  receipt_before_resp: (v) => typeof v === 'boolean',
  refuse_status: (v) => v === null || isCount(v),
  throttle_next: isCount,
  queue_full_next: isCount,
  nack_next: isCount,
  drop_resp_next: isCount,
  id_format: (v) => ID_FORMATS.includes(v),
  receipt_id_format: (v) => v === 'same' || ID_FORMATS.includes(v),
  receipt_tlv_id_format: (v) => v === 'same' || ID_FORMATS.includes(v),
  keep_records: (v) => typeof v === 'boolean',
  rules: (v) => Array.isArray(v) && v.every((r) => r && r.destination !== undefined
    && (r.receipt === undefined || MODE_CHECKS.receipt(r.receipt))
    && (r.err === undefined || MODE_CHECKS.err(r.err))
    && (r.status === undefined || isCount(r.status))),
};

function mergeMode(body) {
  for (const [key, value] of Object.entries(body)) {
    if (!(key in MODE_CHECKS)) throw new HttpError(400, `unknown mode field ${key}`);
    if (!MODE_CHECKS[key](value)) throw new HttpError(400, `bad value for ${key}: ${JSON.stringify(value)}`);
  }
  Object.assign(state.mode, body);
  return state.mode;
}

function statsView() {
  const sessions = [...state.peers.values()].filter((p) => p.bind_type)
    .map((p) => ({ id: p.id, system_id: p.system_id, bind_type: p.bind_type }));
  let held = 0;
  for (const list of state.held.values()) held += list.length;
  return { sessions, ...state.counters, receipts_held: held };
}

function receiptView(receipt) {
  const { peer, ...view } = receipt;
  return view;
}

function restart(downMs) {
  if (!smppServer.listening) throw new HttpError(409, 'already restarting');
  return new Promise((resolve) => {
    smppServer.close(() => {
      resolve({ closed: true, port: opts.port });
      setTimeout(() => smppServer.listen(opts.port, opts.host), downMs);
    });
    for (const peer of state.peers.values()) peer.session.socket.destroy();
  });
}

function unbindAll() {
  let sent = 0;
  for (const peer of state.peers.values()) {
    if (!peer.bind_type) continue;
    peer.bind_type = null;
    if (send(peer, new smpp.PDU('unbind'))) sent++;
  }
  state.counters.unbinds_sent += sent;
  return { sent };
}

function reset() {
  state.mode = defaultMode();
  state.records = [];
  state.receipts = [];
  state.counters = emptyStats();
  return { reset: true };
}

const ROUTES = {
  'GET /mode': () => state.mode,
  'POST /mode': (body) => mergeMode(body),
  'DELETE /mode': () => { state.mode = defaultMode(); return state.mode; },
  'GET /records': (body, query) => state.records.slice(Number(query.get('since') || 0)),
  'DELETE /records': () => { state.records = []; return { cleared: true }; },
  'GET /receipts': (body, query) => state.receipts.slice(Number(query.get('since') || 0)).map(receiptView),
  'GET /stats': () => statsView(),
  'POST /inbound': (body) => sendInbound(body),
  'POST /restart': (body) => restart(body.down_ms ?? 500),
  'POST /unbind': () => unbindAll(),
  'POST /reset': () => reset(),
};

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve({});
      try {
        const value = JSON.parse(text);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
        return resolve(value);
      } catch (e) {
        return reject(new HttpError(400, `body is not a JSON object: ${e.message}`));
      }
    });
    req.on('error', reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://peer');
  let status = 200;
  let payload;
  try {
    const route = ROUTES[`${req.method} ${url.pathname}`];
    if (!route) throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    payload = await route(await readJson(req), url.searchParams);
  } catch (e) {
    status = e.status || 500;
    payload = { error: e.message };
  }
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---------------------------------------------------------------- start

const smppServer = smpp.createServer(onSession);
const controlServer = http.createServer((req, res) => { handle(req, res); });

function fail(error) {
  process.stderr.write(`smpp peer: ${error.message}\n`);
  process.exit(1);
}

smppServer.on('error', fail);
controlServer.on('error', fail);
smppServer.listen(opts.port, opts.host, () => {
  opts.port = smppServer.address().port;
  controlServer.listen(opts.controlPort, opts.host, () => {
    process.stdout.write(`READY smpp=${opts.port} control=${controlServer.address().port}\n`);
  });
});
// A bad PDU must not take the SMSC down for every other session: count it, say it, go on.
process.on('uncaughtException', report);
if (opts.exitOnStdinClose) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
