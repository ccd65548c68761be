// tools/pico/flash.js - the emulated board's flash: a 2 MB host file, written through.
//
// rp2040js does not emulate flash programming. The boot ROM's six flash functions (found in its
// function table by their codes) start with `BKPT #n; BX LR` instead, and the rig's break handler
// calls flashOperation(): an erase fills 4 KB sectors with 0xFF, a program ANDs the new bytes in
// (NOR flash), and each is written to the host file at once, so killing the rig is a power cut.
'use strict';

const fs = require('fs');

const FLASH_SIZE = 2 * 1024 * 1024;
const SECTOR = 4096;
const PAGE = 256;
// Time the CPU stalls on real flash (W25Q16JV typical figures), added to the emulated clock.
const ERASE_NS = 45e6;
const PAGE_PROGRAM_NS = 0.4e6;
const ROM_FUNCS = { IF: 1, EX: 2, RE: 3, RP: 4, FC: 5, CX: 6 };

function openFlash(path) {
  if (!fs.existsSync(path)) throw new Error(`the flash file ${path} does not exist (build it with tests/pico/emulator.py)`);
  if (fs.statSync(path).size !== FLASH_SIZE) throw new Error(`the flash file ${path} is not ${FLASH_SIZE} bytes`);
  return fs.openSync(path, 'r+');
}

// UF2: 512-byte blocks, payload at 32, target address at 12, payload size at 16.
function writeUf2(flash, fd, uf2Path) {
  const data = fs.readFileSync(uf2Path);
  for (let off = 0; off + 512 <= data.length; off += 512) {
    if (data.readUInt32LE(off) !== 0x0a324655 || data.readUInt32LE(off + 4) !== 0x9e5d5157) {
      throw new Error(`${uf2Path} is not a UF2 file (bad magic at byte ${off})`);
    }
    const target = data.readUInt32LE(off + 12) - 0x10000000;
    const size = data.readUInt32LE(off + 16);
    flash.set(data.subarray(off + 32, off + 32 + size), target);
    fs.writeSync(fd, flash, target, size, target);
  }
}

function patchBootrom(rom) {
  const u16 = (a) => rom.readUInt16LE(a);
  let p = u16(0x14); // rom_func_table: (code, thumb address) pairs, code 0 ends it
  const found = {};
  for (; u16(p) !== 0; p += 4) {
    const code = String.fromCharCode(u16(p) & 0xff, u16(p) >> 8);
    if (code in ROM_FUNCS) {
      const addr = u16(p + 2) & ~1;
      rom.writeUInt16LE(0xbe00 | ROM_FUNCS[code], addr); // BKPT #n
      rom.writeUInt16LE(0x4770, addr + 2); // BX LR
      found[code] = addr;
    }
  }
  for (const code of Object.keys(ROM_FUNCS)) {
    if (!(code in found)) throw new Error(`the boot ROM has no ${code} function in its table`);
  }
}

// The erase or program of breakpoint `code` (arguments in r0..r2), done on mcu.flash and the
// file: {erases, programs, ns stalled}; null for the other four functions and unknown codes.
function flashOperation(mcu, fd, code) {
  const r = mcu.core.registers;
  if (code === ROM_FUNCS.RE) {
    const addr = r[0] >>> 0, count = r[1] >>> 0;
    mcu.flash.fill(0xff, addr, addr + count);
    fs.writeSync(fd, mcu.flash, addr, count, addr);
    const sectors = Math.ceil(count / SECTOR);
    return { erases: sectors, programs: 0, ns: sectors * ERASE_NS };
  }
  if (code === ROM_FUNCS.RP) {
    const addr = r[0] >>> 0, src = r[1] >>> 0, count = r[2] >>> 0;
    for (let i = 0; i < count; i++) mcu.flash[addr + i] &= mcu.readUint8(src + i);
    fs.writeSync(fd, mcu.flash, addr, count, addr);
    const pages = Math.ceil(count / PAGE);
    return { erases: 0, programs: pages, ns: pages * PAGE_PROGRAM_NS };
  }
  return null;
}

module.exports = { FLASH_SIZE, ROM_FUNCS, openFlash, writeUf2, patchBootrom, flashOperation };
