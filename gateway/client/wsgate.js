/*
 * wsgate.js — the browser client of wsgate.v1 (lossless resume). No build step, no dependencies;
 * served by the gateway at GET /wsgate.js. Also loads in Node (module.exports) with a WebSocket
 * constructor passed as options.WebSocket (e.g. the `ws` package).
 *
 *   var c = wsgate.connect('wss://host/ws', {
 *     onMessage: function (msg) {},        // every delivered message: {topic, offset, epoch, data | b64}
 *     onRecover: function (topic, recovered, reply) {},  // after each (re)subscribe with a position
 *     onStatus: function (status) {},      // 'connecting' | 'open' | 'closed'
 *     minDelay: 500, maxDelay: 30000       // reconnect backoff (ms), doubled per failure, with jitter
 *   });
 *   c.subscribe('news', function (msg) { ... });
 *   c.publish('news', 'hello');             // text; c.publish(topic, Uint8Array) sends binary;
 *                                           // topic null: the URL's topic
 *   c.recovered                             // false when the last resume of any topic was not whole
 *   c.positions                             // {topic: {offset, epoch}}: where each topic is
 *   c.close();
 *
 * On every reconnect each topic is subscribed again with since = its last position. The gateway
 * answers recovered:true and sends exactly what was missed (then live), or recovered:false: the
 * app must reload its state (onRecover tells it). Messages that arrive for a topic before the
 * answer (live ones on the URL's topic) are held and merged in offset order with the recovered
 * ones, and nothing at or below a topic's position is delivered twice. The URL's topic (subscribed by
 * the gateway on connect) is tracked and resumed like the others from its first message on.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.wsgate = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  function Client(url, opts) {
    this.url = url;
    this.opts = opts || {};
    this.WS = this.opts.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
    this.minDelay = this.opts.minDelay || 500;
    this.maxDelay = this.opts.maxDelay || 30000;
    this.topics = {};      // topic -> state
    this.positions = {};   // topic -> {offset, epoch}
    this.recovered = true;
    this.pending = {};     // command id -> topic (subscribes awaiting their answer)
    this.nextId = 1;
    this.failures = 0;
    this.closed = false;
    this.ws = null;
    this._open();
  }

  Client.prototype._status = function (s) {
    this.status = s;
    if (this.opts.onStatus) this.opts.onStatus(s);
  };

  Client.prototype._open = function () {
    var self = this;
    this._status('connecting');
    var ws = new this.WS(this.url, ['wsgate.v1']);
    this.ws = ws;
    ws.onopen = function () {
      self.failures = 0;
      self._status('open');
      for (var t in self.topics) self._subscribe(t);
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== 'string') return; // wsgate.v1 sends JSON text only
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.topic !== undefined) self._delivered(m);
      else self._reply(m);
    };
    ws.onclose = function () {
      self.ws = null;
      self.pending = {};
      for (var t in self.topics) { self.topics[t].waiting = false; self.topics[t].held = []; self.topics[t].expect = 0; }
      self._status('closed');
      if (self.closed) return;
      // Exponential backoff with jitter: a drained node's clients do not come back in one wave.
      var d = Math.min(self.maxDelay, self.minDelay * Math.pow(2, self.failures++));
      setTimeout(function () { if (!self.closed) self._open(); }, d / 2 + Math.random() * d / 2);
    };
    ws.onerror = function () {};
  };

  Client.prototype._send = function (cmd) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(cmd));
  };

  Client.prototype._subscribe = function (topic) {
    var st = this.topics[topic], id = this.nextId++;
    var cmd = { id: id, subscribe: { topic: topic } };
    var pos = this.positions[topic];
    if (pos) cmd.subscribe.since = { offset: pos.offset, epoch: pos.epoch };
    st.waiting = true;
    st.held = [];
    this.pending[id] = topic;
    this._send(cmd);
  };

  Client.prototype._reply = function (m) {
    var topic = this.pending[m.id];
    if (topic === undefined) {
      if (m.error && this.opts.onError) this.opts.onError(m.error, m.id);
      return;
    }
    delete this.pending[m.id];
    var st = this.topics[topic];
    if (!st) return;
    st.waiting = false;
    if (m.error) {
      if (this.opts.onError) this.opts.onError(m.error, m.id, topic);
      this._flush(st);
      return;
    }
    var r = m.subscribe, had = this.positions[topic];
    if (r.recovered === false || !had) {
      // Live from the answer's position: what was held below it is not part of the stream now.
      this.positions[topic] = { offset: r.offset, epoch: r.epoch };
      st.held = st.held.filter(function (x) { return x.epoch === r.epoch && x.offset > r.offset; });
    }
    if (r.recovered !== undefined) {
      this.recovered = r.recovered && this._allRecovered(topic);
      st.recovered = r.recovered;
      if (this.opts.onRecover) this.opts.onRecover(topic, r.recovered, r);
    }
    st.expect = r.recovered ? (r.messages || 0) : 0;
    if (st.expect === 0) this._flush(st);
  };

  Client.prototype._allRecovered = function (except) {
    for (var t in this.topics) if (t !== except && this.topics[t].recovered === false) return false;
    return true;
  };

  Client.prototype._delivered = function (m) {
    var st = this.topics[m.topic];
    // A topic the socket holds without a subscribe (the URL's): tracked too, so it resumes.
    if (!st) st = this.topics[m.topic] = { held: [], expect: 0, waiting: false };
    if (st && (st.waiting || st.expect > 0)) {
      st.held.push(m);
      if (!st.waiting && --st.expect === 0) this._flush(st);
      return;
    }
    this._emit(m);
  };

  // _flush delivers what was held during a (re)subscribe, in offset order.
  Client.prototype._flush = function (st) {
    var held = st.held;
    st.held = [];
    st.expect = 0;
    held.sort(function (a, b) { return a.offset - b.offset; });
    for (var i = 0; i < held.length; i++) this._emit(held[i]);
  };

  Client.prototype._emit = function (m) {
    var pos = this.positions[m.topic];
    if (pos && pos.epoch === m.epoch && m.offset <= pos.offset) return; // had it
    this.positions[m.topic] = { offset: m.offset, epoch: m.epoch };
    var st = this.topics[m.topic];
    if (st && st.handler) st.handler(m);
    if (this.opts.onMessage) this.opts.onMessage(m);
  };

  Client.prototype.subscribe = function (topic, handler) {
    var st = this.topics[topic];
    if (!st) st = this.topics[topic] = { held: [], expect: 0, waiting: false };
    st.handler = handler;
    if (this.ws && this.ws.readyState === 1) this._subscribe(topic);
    return this;
  };

  Client.prototype.unsubscribe = function (topic) {
    delete this.topics[topic];
    delete this.positions[topic];
    this._send({ id: this.nextId++, unsubscribe: { topic: topic } });
  };

  Client.prototype.publish = function (topic, data) {
    var cmd = { id: this.nextId++, publish: {} };
    if (topic !== null && topic !== undefined) cmd.publish.topic = topic; // none: the URL's topic
    if (typeof data === 'string') cmd.publish.data = data;
    else {
      var s = '', b = new Uint8Array(data);
      for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
      cmd.publish.b64 = btoa(s);
    }
    this._send(cmd);
  };

  Client.prototype.close = function () {
    this.closed = true;
    if (this.ws) this.ws.close(1000);
  };

  return { connect: function (url, opts) { return new Client(url, opts); }, Client: Client };
});
