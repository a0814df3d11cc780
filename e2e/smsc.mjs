// A real SMSC for Chorus's SMS tests, on the npm smpp package (0.5.1).
// Driven by a Go test (channels/sms/smstest) over line-based JSON:
//
//   node smsc.mjs SYSTEM_ID PASSWORD
//
// It prints {"event":"listening","port":N} once it listens on 127.0.0.1:0,
// then one JSON event per line:
//   bind      {system_id, ok, status}         a bind_transceiver (ok false: ESME_RBINDFAIL)
//   submit    {id, from, to, text, data_coding, esm_class, registered_delivery,
//              source_ton, source_npi, dest_ton, dest_npi, udh: {ref,part,total}|null, t}
//   deliver_resp {what, status}               the ESME's answer to an MO or receipt
//   unbind, closed {bound}, refused, enquire_link, error {error}
// and reads one command per line on stdin:
//   {"cmd":"mo","from":"+1555...","to":"+1...","text":"...","coding":"gsm"|"ucs2"|"latin1"?}
//   {"cmd":"mo","from":...,"to":...,"parts":["..",".."],"ref":7,"order":[2,1]?}  concatenated MO (UDH)
//   {"cmd":"receipt","id":"...","stat":"DELIVRD","err":"000"?}
//   {"cmd":"drop"}    destroys the bound ESME's socket
//   {"cmd":"pause"}   refuses new connections (closed at once) until
//   {"cmd":"resume"}
// It exits when stdin closes.
import smpp from "smpp";
import readline from "node:readline";

const [systemID = "chorus", password = "secret"] = process.argv.slice(2);
let paused = false;
let esme = null; // the bound transceiver session
let nextID = 1;
const submits = new Map(); // message id -> {from, to}
const MAX_SUBMITS = 100000;

function emit(o) {
  process.stdout.write(JSON.stringify(o) + "\n");
}

// Numbers travel without "+" (TON international); events and commands use E.164.
const e164 = (a) => (a.startsWith("+") ? a : "+" + a);
const wire = (a) => String(a).replace(/^\+/, "");

function udhInfo(udh) {
  for (const ie of udh || []) {
    if (ie[0] === 0x00 && ie[1] === 3) return { ref: ie[2], total: ie[3], part: ie[4] };
    if (ie[0] === 0x08 && ie[1] === 4) return { ref: ie.readUInt16BE(2), total: ie[4], part: ie[5] };
  }
  return null;
}

const server = smpp.createServer({}, (session) => {
  session.on("error", (e) => emit({ event: "error", error: String(e && e.message || e) }));
  if (paused) {
    emit({ event: "refused" });
    session.destroy();
    return;
  }
  let bound = false;
  const bindFail = (pdu) => {
    session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
    emit({ event: "bind", system_id: pdu.system_id, ok: false, status: smpp.ESME_RBINDFAIL });
    session.close();
  };
  session.on("bind_transceiver", (pdu) => {
    if (pdu.system_id !== systemID || pdu.password !== password) {
      bindFail(pdu);
      return;
    }
    bound = true;
    if (esme && esme !== session) esme.destroy();
    esme = session;
    session.send(pdu.response({ system_id: "npm-smsc" }));
    emit({ event: "bind", system_id: pdu.system_id, system_type: pdu.system_type, ok: true, status: 0 });
  });
  session.on("bind_transmitter", bindFail);
  session.on("bind_receiver", bindFail);
  session.on("enquire_link", (pdu) => {
    session.send(pdu.response());
    emit({ event: "enquire_link" });
  });
  session.on("submit_sm", (pdu) => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const id = "m" + (nextID++).toString(16).padStart(6, "0");
    const sm = pdu.short_message || {};
    const text = typeof sm === "string" ? sm : Buffer.isBuffer(sm.message) ? sm.message.toString("hex") : sm.message || "";
    const ev = {
      event: "submit", id, from: e164(pdu.source_addr), to: e164(pdu.destination_addr), text,
      data_coding: pdu.data_coding, esm_class: pdu.esm_class, registered_delivery: pdu.registered_delivery,
      source_ton: pdu.source_addr_ton, source_npi: pdu.source_addr_npi,
      dest_ton: pdu.dest_addr_ton, dest_npi: pdu.dest_addr_npi,
      udh: udhInfo(sm.udh), t: Date.now(),
    };
    if (submits.size >= MAX_SUBMITS) submits.delete(submits.keys().next().value);
    submits.set(id, { from: ev.from, to: ev.to });
    session.send(pdu.response({ message_id: id }));
    emit(ev);
  });
  session.on("unbind", (pdu) => {
    session.send(pdu.response());
    emit({ event: "unbind" });
    session.close();
  });
  session.on("close", () => {
    if (esme === session) esme = null;
    emit({ event: "closed", bound });
  });
});

function deliver(what, opts) {
  if (!esme) {
    emit({ event: "error", error: "no ESME bound: cannot send " + what });
    return;
  }
  esme.deliver_sm(opts, (resp) => emit({ event: "deliver_resp", what, status: resp.command_status }));
}

const codings = { gsm: 0x00, ucs2: 0x08, latin1: 0x03 };
const gsmRegex = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà\f^{}\\[~\]|€]*$/;

function mo(c) {
  const all = c.parts ? c.parts.join("") : c.text || "";
  const coding = c.coding ? codings[c.coding] : gsmRegex.test(all) ? 0x00 : 0x08;
  const base = {
    source_addr_ton: 1, source_addr_npi: 1, source_addr: wire(c.from),
    dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: wire(c.to),
    data_coding: coding,
  };
  if (!c.parts) {
    deliver("mo", { ...base, short_message: c.text || "" });
    return;
  }
  const total = c.parts.length;
  const ref = (c.ref ?? 42) & 0xff;
  const order = c.order || c.parts.map((_, i) => i + 1);
  for (const n of order) {
    const udh = Buffer.from([0x05, 0x00, 0x03, ref, total, n]);
    deliver("mo part " + n, { ...base, esm_class: 0x40, short_message: { udh, message: c.parts[n - 1] } });
  }
}

function receipt(c) {
  const s = submits.get(c.id) || { from: c.from || "+10000000000", to: c.to || "+10000000000" };
  const stat = c.stat || "DELIVRD";
  const err = c.err || (stat === "DELIVRD" ? "000" : "001");
  const dlvrd = stat === "DELIVRD" ? "001" : "000";
  const now = new Date().toISOString().replace(/\D/g, "").slice(2, 12);
  const states = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };
  const opts = {
    source_addr_ton: 1, source_addr_npi: 1, source_addr: wire(s.to),
    dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: wire(s.from),
    esm_class: 0x04, data_coding: 0x00,
    short_message: `id:${c.id} sub:001 dlvrd:${dlvrd} submit date:${now} done date:${now} stat:${stat} err:${err} text:`,
  };
  if (!c.body_only) {
    opts.receipted_message_id = c.id;
    opts.message_state = states[stat] || 7;
  }
  deliver("receipt", opts);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    emit({ event: "error", error: "bad command: " + line });
    return;
  }
  try {
    switch (c.cmd) {
      case "mo": mo(c); break;
      case "receipt": receipt(c); break;
      case "drop":
        if (esme) esme.destroy();
        emit({ event: "dropped", had: !!esme });
        esme = null;
        break;
      case "pause": paused = true; emit({ event: "paused" }); break;
      case "resume": paused = false; emit({ event: "resumed" }); break;
      default: emit({ event: "error", error: "unknown command " + c.cmd });
    }
  } catch (e) {
    emit({ event: "error", error: String(e && e.stack || e) });
  }
});
rl.on("close", () => {
  for (const s of server.sessions.slice()) s.destroy();
  server.close();
  process.exit(0);
});

server.listen(0, "127.0.0.1", () => emit({ event: "listening", port: server.address().port }));
