#!/usr/bin/env node
// tools/pico/rig.js - an emulated Raspberry Pi Pico (rp2040js) for the pod's tests.
//
//   node rig.js --bootrom ROM.bin --flash FLASH.bin [--uf2 FIRMWARE.uf2] [--mechanism FILE.json]
//               [--serial-port N] [--control-port N] [--max-speed X]
//
// --max-speed X: an idle board's clock runs at most X times real time (default 1, like a board;
// 0 = as fast as possible). A busy board runs as fast as the host can emulate it.
//
// It runs the RP2040 boot ROM and whatever is in the 2 MB flash file (the MicroPython UF2 is
// written into it with --uf2; tests/pico/emulator.py builds the file with the littlefs image
// of the pod firmware). Every flash erase and program of the board is written through to the
// file, so killing this process is a power cut and starting it again on the file a power-up.
//
// The USB CDC serial port is bridged to a TCP port (one client at a time, like a tty). A second
// TCP port takes JSON control requests, one per line, and answers each with one JSON line:
//   {"cmd": "counters"}         emulated time and CPU, flash erases/programs, step pulses
//   {"cmd": "block", "on": B}   block the plunger: step pulses no longer move the encoder
//   {"cmd": "steps", "since": N} emulated times (µs) of the step pulses from number N on
// On start it prints one JSON line to stdout: {"ready": true, "serial_port": N, "control_port": N}.
//
// The mechanism: GP2 is the step output, GP3 the encoder input; each rising edge on GP2 toggles
// GP3 (the plunger moved) unless blocked (by the control port, or by the firmware's block line
// GP4 that a bench "occlude" drives), so pod/hal/rp2.py runs its real code path. The plunger's
// position is kept in the --mechanism file (JSON) across power cuts.
'use strict';

const fs = require('fs');
const net = require('net');
const { RP2040, GPIOPinState } = require('rp2040js');
const { FLASH_SIZE, ROM_FUNCS, openFlash, writeUf2, patchBootrom, flashOperation } = require('./flash');

const CYCLE_NS = 8; // 125 MHz
const STEP_PIN = 2;
const ENCODER_PIN = 3;
const BLOCK_PIN = 4;
const STEP_TIMES_KEPT = 4096;
const STEP_TIMES_PER_REPLY = 512; // the bench's block line (pod/hal/rp2.py): high = the plunger is held

// ---- options

function parseArgs(argv) {
  const opts = { serialPort: 0, controlPort: 0, maxSpeed: 1, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--bootrom') opts.bootrom = v();
    else if (a === '--flash') opts.flash = v();
    else if (a === '--uf2') opts.uf2 = v();
    else if (a === '--serial-port') opts.serialPort = Number(v());
    else if (a === '--control-port') opts.controlPort = Number(v());
    else if (a === '--max-speed') opts.maxSpeed = Number(v());
    else if (a === '--mechanism') opts.mechanism = v();
    else fail(`unknown option ${a}`);
  }
  if (!opts.bootrom || !opts.flash) fail('--bootrom and --flash are required');
  return opts;
}

function fail(msg) {
  process.stderr.write(`rig: ${msg}. Usage: node rig.js --bootrom ROM --flash FILE [--uf2 FILE] ` +
    '[--mechanism FILE] [--serial-port N] [--control-port N] [--max-speed X]\n');
  process.exit(2);
}

class Rig {
  constructor(opts) {
    this.opts = opts;
    this.mcu = new RP2040();
    const rom = fs.readFileSync(opts.bootrom);
    patchBootrom(rom);
    this.mcu.loadBootrom(new Uint32Array(rom.buffer, rom.byteOffset, rom.length / 4));
    this.fd = openFlash(opts.flash);
    fs.readSync(this.fd, this.mcu.flash, 0, FLASH_SIZE, 0);
    if (opts.uf2) writeUf2(this.mcu.flash, this.fd, opts.uf2);
    this.counters = { erases: 0, programs: 0, busy_ns: 0, flash_ns: 0, steps: 0, moves: 0, rx_bytes: 0, tx_bytes: 0 };
    this.blocked = false;
    this.mcu.onBreak = (code) => this.onBreak(code);
    this.mcu.core.PC = 0x10000000;
    this.setupMechanism();
    this.setupUsb();
    this.wallStart = process.hrtime.bigint();
  }

  onBreak(code) {
    const { mcu } = this;
    const done = flashOperation(mcu, this.fd, code);
    if (done) {
      this.counters.erases += done.erases;
      this.counters.programs += done.programs;
      this.stall(done.ns);
    } else if (!Object.values(ROM_FUNCS).includes(code)) {
      process.stderr.write(`rig: breakpoint #${code} at 0x${(mcu.core.PC >>> 0).toString(16)}: the firmware crashed\n`);
    }
    // IF, EX, FC, CX: nothing to do for an emulated flash; BX LR returns to the caller.
  }

  stall(ns) {
    this.counters.flash_ns += ns;
    this.mcu.clock.tick(ns);
  }

  // GP2 rising edge -> GP3 toggles (the encoder saw the plunger move), unless blocked. The
  // plunger's position is physical: it is kept in the --mechanism file across power cuts.
  setupMechanism() {
    const { gpio } = this.mcu;
    const file = this.opts.mechanism;
    this.position = 0;
    if (file && fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
      this.position = saved.position | 0;
      this.blocked = !!saved.blocked;
    }
    let level = false;
    gpio[ENCODER_PIN].setInputValue(level);
    this.stepTimes = []; // emulated µs of the newest step pulses (rising edges)
    this.blockLine = false;
    gpio[BLOCK_PIN].addListener((state) => {
      this.blockLine = state === GPIOPinState.High;
    });
    gpio[STEP_PIN].addListener((state, old) => {
      if (state === GPIOPinState.High && old !== GPIOPinState.High) {
        this.counters.steps++;
        this.stepTimes.push(Math.round(this.mcu.clock.nanos / 1000));
        if (this.stepTimes.length > STEP_TIMES_KEPT) this.stepTimes.shift();
        if (!this.blocked && !this.blockLine) {
          level = !level;
          this.counters.moves++;
          this.position++;
          this.saveMechanism();
          gpio[ENCODER_PIN].setInputValue(level);
        }
      }
    });
  }

  saveMechanism() {
    if (this.opts.mechanism) {
      fs.writeFileSync(this.opts.mechanism, JSON.stringify({ position: this.position, blocked: this.blocked }));
    }
  }

  // USB CDC: host bytes wait here until the board arms its OUT endpoint (flow control: the
  // emulated FIFO drops what does not fit); an armed endpoint stays parked while there is no data,
  // so an idle board sleeps instead of polling.
  setupUsb() {
    const usb = this.mcu.usbCtrl;
    this.rx = [];
    this.rxOff = 0;
    this.pendingRead = null; // [endpoint, size]
    this.client = null;
    this.outEndpoint = -1;
    this.inEndpoint = -1;
    this.configured = false;
    let descriptorsSize = null;
    const descriptors = [];
    usb.onUSBEnabled = () => usb.resetDevice();
    usb.onResetReceived = () => usb.sendSetupPacket(setupPacket(0x00, 5, 1, 0, 0)); // SET_ADDRESS 1
    usb.onEndpointWrite = (endpoint, buffer) => {
      if (endpoint === 0 && buffer.length === 0) {
        if (descriptorsSize == null) {
          usb.sendSetupPacket(setupPacket(0x80, 6, 0x0200, 0, 9)); // GET_DESCRIPTOR config, 9 bytes
        } else if (!this.configured) {
          this.configured = true;
          usb.sendSetupPacket(setupPacket(0x21, 0x22, 3, 0, 0)); // SET_CONTROL_LINE_STATE DTR|RTS
          this.event({ usb: 'connected' });
        }
      } else if (endpoint === 0 && buffer.length > 1) {
        if (buffer.length === 9 && buffer[1] === 2 && descriptorsSize == null) {
          descriptorsSize = buffer[2] | (buffer[3] << 8);
          usb.sendSetupPacket(setupPacket(0x80, 6, 0x0200, 0, descriptorsSize));
        } else if (descriptorsSize != null && descriptors.length < descriptorsSize) {
          descriptors.push(...buffer);
          if (descriptors.length === descriptorsSize) {
            const eps = cdcEndpoints(descriptors);
            this.inEndpoint = eps.in;
            this.outEndpoint = eps.out;
            usb.sendSetupPacket(setupPacket(0x00, 9, 1, 0, 0)); // SET_CONFIGURATION 1
          }
        }
      } else if (endpoint === this.inEndpoint) {
        this.counters.tx_bytes += buffer.length;
        if (this.client) this.client.write(Buffer.from(buffer));
      }
    };
    usb.onEndpointRead = (endpoint, size) => {
      if (process.env.RIG_DEBUG) process.stderr.write(`read ep${endpoint} size ${size} out=${this.outEndpoint}\n`);
      if (endpoint !== this.outEndpoint) return;
      this.pendingRead = [endpoint, size];
      this.feedUsb();
    };
  }

  feedUsb() {
    if (!this.pendingRead || this.rx.length === 0) return;
    const [endpoint, size] = this.pendingRead;
    const out = Buffer.alloc(size);
    let n = 0;
    while (n < size && this.rx.length) {
      const head = this.rx[0];
      const take = Math.min(size - n, head.length - this.rxOff);
      head.copy(out, n, this.rxOff, this.rxOff + take);
      n += take;
      this.rxOff += take;
      if (this.rxOff === head.length) {
        this.rx.shift();
        this.rxOff = 0;
      }
    }
    this.pendingRead = null;
    this.counters.rx_bytes += n;
    this.mcu.usbCtrl.endpointReadDone(endpoint, out.subarray(0, n));
    this.wake();
  }

  event(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
  }

  // ---- the execution loop: runs slices of instructions, never faster than real time when idle

  start() {
    this.running = true;
    this.timer = null;
    this.loop();
  }

  wake() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      setImmediate(() => this.loop());
    }
  }

  loop() {
    this.timer = null;
    const { mcu } = this;
    const { core, clock } = mcu;
    const sliceEnd = Date.now() + 25;
    const maxSpeed = this.opts.maxSpeed;
    for (;;) {
      for (let i = 0; i < 20000; i++) {
        if (core.waiting) {
          const next = clock.nanosToNextAlarm;
          if (next <= 0 && clock.nextAlarm) {
            clock.tick(0); // an alarm is due now: fire it (USB transfers complete this way)
            continue;
          }
          const ahead = this.nanosAheadOfWall(maxSpeed);
          if (next > 0 && ahead + next <= 0) {
            clock.tick(next); // the alarm is already due in real time: jump to it
            continue;
          }
          // Idle: catch up with real time, then sleep until the alarm is due (or host data comes).
          if (ahead < 0 && isFinite(ahead)) clock.tick(-ahead);
          const left = next > 0 ? (next + ahead) / maxSpeed : 50e6;
          this.timer = setTimeout(() => this.loop(), Math.max(1, Math.min(50, left / 1e6)));
          return;
        } else {
          const cycles = core.executeInstruction();
          const ns = cycles * CYCLE_NS;
          this.counters.busy_ns += ns;
          clock.tick(ns);
        }
      }
      if (Date.now() >= sliceEnd) break;
    }
    setImmediate(() => this.loop());
  }

  // Emulated time minus wall time since start, scaled by max speed (>0: the board is ahead).
  nanosAheadOfWall(maxSpeed) {
    if (!(maxSpeed > 0)) return -Infinity;
    const wall = Number(process.hrtime.bigint() - this.wallStart) * maxSpeed;
    return this.mcu.clock.nanos - wall;
  }

  // ---- host side

  listen() {
    const serial = net.createServer((sock) => {
      if (this.client) { // one host at a time, like a tty held open by one program
        sock.destroy();
        return;
      }
      this.client = sock;
      sock.setNoDelay(true);
      sock.on('data', (data) => {
        this.rx.push(Buffer.from(data));
        this.feedUsb();
        this.wake();
      });
      const gone = () => {
        if (this.client === sock) this.client = null;
      };
      sock.on('close', gone);
      sock.on('error', gone);
    });
    const control = net.createServer((sock) => {
      let buf = '';
      sock.on('data', (data) => {
        buf += data.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          sock.write(JSON.stringify(this.control(line)) + '\n');
        }
      });
      sock.on('error', () => {});
    });
    let waiting = 2;
    const ready = () => {
      if (--waiting === 0) {
        this.event({ ready: true, serial_port: serial.address().port, control_port: control.address().port });
      }
    };
    serial.listen(this.opts.serialPort, this.opts.host, ready);
    control.listen(this.opts.controlPort, this.opts.host, ready);
  }

  control(line) {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      return { ok: false, error: 'not JSON: send {"cmd": "counters"} or {"cmd": "block", "on": true}' };
    }
    if (req.cmd === 'counters') return { ok: true, ...this.snapshot() };
    if (req.cmd === 'block') {
      if (typeof req.on !== 'boolean') return { ok: false, error: 'block needs "on": true or false' };
      this.blocked = req.on;
      this.saveMechanism();
      return { ok: true, blocked: this.blocked, ...this.snapshot() };
    }
    if (req.cmd === 'steps') {
      // Emulated time (µs since power-up) of each step pulse from number `since` on.
      const count = this.counters.steps;
      const oldest = count - this.stepTimes.length;
      const first = Math.max(Number(req.since) || 0, oldest);
      const times = this.stepTimes.slice(first - oldest, first - oldest + STEP_TIMES_PER_REPLY);
      return { ok: true, count, first, times_us: times };
    }
    return { ok: false, error: `unknown cmd ${JSON.stringify(req.cmd)}; the cmds are counters, block, steps` };
  }

  snapshot() {
    return {
      ...this.counters,
      emulated_ns: this.mcu.clock.nanos,
      wall_ns: Number(process.hrtime.bigint() - this.wallStart),
      ahead_ns: this.nanosAheadOfWall(this.opts.maxSpeed),
      blocked: this.blocked,
      block_line: this.blockLine,
      position: this.position,
      usb: this.configured,
    };
  }
}

function setupPacket(requestType, request, value, index, length) {
  return new Uint8Array([requestType, request, value & 0xff, value >> 8, index & 0xff, index >> 8,
    length & 0xff, length >> 8]);
}

// The bulk IN/OUT endpoints of the CDC data interface (class 10) in a configuration descriptor.
function cdcEndpoints(d) {
  const eps = { in: -1, out: -1 };
  let inData = false;
  for (let i = 0; i + 1 < d.length && d[i] >= 2; i += d[i]) {
    const len = d[i], type = d[i + 1];
    if (type === 4 && len === 9) inData = d[i + 4] === 2 && d[i + 5] === 10;
    if (inData && type === 5 && len === 7 && (d[i + 3] & 3) === 2) {
      if (d[i + 2] & 0x80) eps.in = d[i + 2] & 0xf;
      else eps.out = d[i + 2] & 0xf;
    }
  }
  return eps;
}

let rig;
try {
  rig = new Rig(parseArgs(process.argv.slice(2)));
} catch (e) {
  fail(e.message);
}
rig.listen();
rig.start();
