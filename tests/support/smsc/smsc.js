// A small SMSC for the notify service's tests, built on the `smpp` package (an independent SMPP 3.4
// implementation). Usage: node smsc.js SMPP_PORT CONTROL_PORT
//
// It accepts transceiver binds (system_id "samad", password "secret"), answers submit_sm with a
// message id and sends a delivery receipt per part; an HTTP control port lets the test script it:
//   GET  /state       submitted parts, receipts sent and acknowledged, enquire_links, binds
//   POST /config      {"throttle_next": N, "receipt": "delivered"|"undeliverable"|"none",
//                      "duplicate_receipts": true, "receipt_delay_ms": 50, "hold_responses": false}
//   POST /mo          {"from": "98912...", "to": "111", "text": "لغو"}  an SMS from a citizen
//   POST /drop        closes every session (the client must reconnect)
'use strict';

const http = require('http');
const smpp = require('smpp');

const smppPort = parseInt(process.argv[2] || '2775', 10);
const controlPort = parseInt(process.argv[3] || '2776', 10);

const state = {
  binds: 0,
  enquire_links: 0,
  submitted: [],
  throttled: 0,
  receipts_sent: 0,
  receipts_acked: 0,
  mo_acked: 0,
};
let config = {
  throttle_next: 0,
  receipt: 'delivered',
  duplicate_receipts: false,
  receipt_delay_ms: 50,
  hold_responses: false,
};
let nextId = 1000;
const sessions = new Set();

function stamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function sendReceipt(session, part) {
  const stat = config.receipt === 'undeliverable' ? 'UNDELIV' : 'DELIVRD';
  const now = new Date();
  const text = part.text.slice(0, 20);
  const body = `id:${part.message_id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:${stamp(part.at)} done date:${stamp(now)} stat:${stat} err:${stat === 'DELIVRD' ? '000' : '001'} text:${text}`;
  state.receipts_sent += 1;
  session.deliver_sm({
    source_addr: part.destination,
    source_addr_ton: 1,
    source_addr_npi: 1,
    destination_addr: part.source,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    short_message: body,
    receipted_message_id: part.message_id,
    message_state: stat === 'DELIVRD' ? 2 : 5,
  }, (resp) => {
    if (resp.command_status === 0) state.receipts_acked += 1;
  });
}

const server = smpp.createServer({}, (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
  session.on('error', () => sessions.delete(session));
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== 'samad' || pdu.password !== 'secret') {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    state.binds += 1;
    session.send(pdu.response({ system_id: 'test-smsc' }));
  });
  session.on('enquire_link', (pdu) => {
    state.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', (pdu) => {
    if (config.hold_responses) return; // the ESME never learns whether it was accepted
    if (config.throttle_next > 0) {
      config.throttle_next -= 1;
      state.throttled += 1;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const message = pdu.short_message || {};
    const udh = message.udh && message.udh.length ? Buffer.concat(message.udh).toString('hex') : '';
    const text = typeof message.message === 'string' ? message.message : String(message.message || '');
    const part = {
      message_id: String(nextId++),
      source: pdu.source_addr,
      destination: pdu.destination_addr,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      udh,
      text,
      at: new Date(),
    };
    state.submitted.push(part);
    session.send(pdu.response({ message_id: part.message_id }));
    if (config.receipt !== 'none' && (pdu.registered_delivery & 1)) {
      setTimeout(() => {
        sendReceipt(session, part);
        if (config.duplicate_receipts) setTimeout(() => sendReceipt(session, part), 20);
      }, config.receipt_delay_ms);
    }
  });
});

server.listen(smppPort, '127.0.0.1');

function readJson(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch (e) { resolve({}); } });
  });
}

http.createServer(async (req, res) => {
  const reply = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (req.method === 'GET' && req.url === '/state') return reply(200, { ...state, sessions: sessions.size, config });
  if (req.method === 'POST' && req.url === '/config') { config = { ...config, ...(await readJson(req)) }; return reply(200, config); }
  if (req.method === 'POST' && req.url === '/drop') {
    for (const s of sessions) s.destroy();
    return reply(200, { dropped: true });
  }
  if (req.method === 'POST' && req.url === '/mo') {
    const body = await readJson(req);
    const [session] = sessions;
    if (!session) return reply(409, { error: 'no bound session' });
    session.deliver_sm({
      source_addr: body.from, source_addr_ton: 1, source_addr_npi: 1,
      destination_addr: body.to || '111', data_coding: 8, short_message: body.text,
    }, (resp) => { if (resp.command_status === 0) state.mo_acked += 1; });
    return reply(200, { sent: true });
  }
  return reply(404, { error: 'not found' });
}).listen(controlPort, '127.0.0.1', () => {
  console.log(`READY smpp=${smppPort} control=${controlPort}`);
});
