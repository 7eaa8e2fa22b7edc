/*
 * Exile script runtime: a CryptoJS-compatible subset, plus btoa/atob.
 *
 * Provides the global `CryptoJS` with MD5, SHA1, SHA224, SHA256, SHA384, SHA512 and their HMACs, the encoders
 * Hex, Base64, Base64url, Utf8, Latin1, and the WordArray type (big-endian 32-bit words + a byte count).
 * Ciphers and key derivation (AES, DES, TripleDES, RC4, Rabbit, PBKDF2, EvpKDF, RIPEMD160, SHA3) throw
 * "not supported by Exile: CryptoJS.<name>".
 *
 * Loaded before a lockdown that freezes every intrinsic and these globals: nothing here writes to a shared
 * object after load. Lookup tables live in this file's closure and are never exposed.
 */
var CryptoJS = (function () {
  "use strict";

  // ---- bytes <-> words ------------------------------------------------------------------------------------------
  function wordsToBytes(words, sigBytes) {
    var out = new Uint8Array(sigBytes);
    for (var i = 0; i < sigBytes; i++) {
      out[i] = (words[i >>> 2] >>> (24 - (i & 3) * 8)) & 0xff;
    }
    return out;
  }

  function bytesToWords(bytes, length) {
    var n = length === undefined ? bytes.length : length;
    var words = new Array((n + 3) >>> 2);
    var full = n >>> 2;
    var j = 0;
    for (var w = 0; w < full; w++, j += 4) {
      words[w] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    if (n & 3) {
      var last = 0;
      for (var k = 0; j + k < n; k++) last |= bytes[j + k] << (24 - k * 8);
      words[full] = last;
    }
    return words;
  }

  // String.fromCharCode over large arrays, in chunks (argument count limits).
  function codesToString(codes, length) {
    var parts = [];
    for (var i = 0; i < length; i += 8192) {
      var end = Math.min(length, i + 8192);
      parts.push(String.fromCharCode.apply(null, codes.subarray ? codes.subarray(i, end) : codes.slice(i, end)));
    }
    return parts.join("");
  }

  // ---- WordArray -----------------------------------------------------------------------------------------------
  class WordArray {
    constructor(words, sigBytes) {
      this.words = words || [];
      this.sigBytes = sigBytes !== undefined ? sigBytes : this.words.length * 4;
    }

    toString(encoder) {
      return (encoder || Hex).stringify(this);
    }

    clamp() {
      var n = this.sigBytes;
      var words = this.words;
      if (n & 3) words[n >>> 2] &= 0xffffffff << (32 - (n & 3) * 8);
      words.length = Math.ceil(n / 4);
      return this;
    }

    concat(other) {
      var mine = this.words;
      var theirs = other.words;
      var start = this.sigBytes;
      var count = other.sigBytes;
      this.clamp();
      if (start & 3) {
        for (var i = 0; i < count; i++) {
          var b = (theirs[i >>> 2] >>> (24 - (i & 3) * 8)) & 0xff;
          var pos = start + i;
          mine[pos >>> 2] |= b << (24 - (pos & 3) * 8);
        }
      } else {
        var base = start >>> 2;
        var nw = (count + 3) >>> 2;
        for (var w = 0; w < nw; w++) mine[base + w] = theirs[w] | 0;
      }
      this.sigBytes = start + count;
      this.clamp();
      return this;
    }

    clone() {
      return new WordArray(this.words.slice(0), this.sigBytes);
    }

    static create(words, sigBytes) {
      if (words instanceof ArrayBuffer) words = new Uint8Array(words);
      if (ArrayBuffer.isView(words)) {
        var u8 = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
        return new WordArray(bytesToWords(u8), u8.length);
      }
      return new WordArray(words, sigBytes);
    }

    static random(nBytes) {
      var words = [];
      for (var i = 0; i < nBytes; i += 4) words.push((Math.random() * 0x100000000) | 0);
      return new WordArray(words, nBytes);
    }
  }

  function isWordArray(x) {
    return x !== null && typeof x === "object" && Array.isArray(x.words) && typeof x.sigBytes === "number";
  }

  // ---- encoders ------------------------------------------------------------------------------------------------
  var HEX_OF = [];
  for (var h = 0; h < 256; h++) HEX_OF.push((h < 16 ? "0" : "") + h.toString(16));

  var Hex = {
    stringify: function (wa) {
      var words = wa.words;
      var n = wa.sigBytes;
      var out = new Array(n);
      for (var i = 0; i < n; i++) out[i] = HEX_OF[(words[i >>> 2] >>> (24 - (i & 3) * 8)) & 0xff];
      return out.join("");
    },
    parse: function (text) {
      text = String(text);
      var n = text.length >>> 1;
      var bytes = new Uint8Array(n);
      for (var i = 0; i < n; i++) bytes[i] = parseInt(text.substr(i * 2, 2), 16);
      return new WordArray(bytesToWords(bytes), n);
    },
  };

  var Latin1 = {
    stringify: function (wa) {
      return codesToString(wordsToBytes(wa.words, wa.sigBytes), wa.sigBytes);
    },
    parse: function (text) {
      text = String(text);
      var n = text.length;
      var bytes = new Uint8Array(n);
      for (var i = 0; i < n; i++) bytes[i] = text.charCodeAt(i) & 0xff;
      return new WordArray(bytesToWords(bytes), n);
    },
  };

  // UTF-8 encode a JS string (lone surrogates become U+FFFD, as TextEncoder does).
  function utf8Bytes(text) {
    var n = text.length;
    var out = new Uint8Array(n * 3);
    var j = 0;
    for (var i = 0; i < n; i++) {
      var c = text.charCodeAt(i);
      if (c < 0x80) {
        out[j++] = c;
        continue;
      }
      if (c < 0x800) {
        out[j++] = 0xc0 | (c >>> 6);
        out[j++] = 0x80 | (c & 0x3f);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        var d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          var cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          out[j++] = 0xf0 | (cp >>> 18);
          out[j++] = 0x80 | ((cp >>> 12) & 0x3f);
          out[j++] = 0x80 | ((cp >>> 6) & 0x3f);
          out[j++] = 0x80 | (cp & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      out[j++] = 0xe0 | (c >>> 12);
      out[j++] = 0x80 | ((c >>> 6) & 0x3f);
      out[j++] = 0x80 | (c & 0x3f);
    }
    return { bytes: out, length: j };
  }

  function malformed() {
    return new Error("Malformed UTF-8 data");
  }

  var Utf8 = {
    stringify: function (wa) {
      var n = wa.sigBytes;
      var b = wordsToBytes(wa.words, n);
      var codes = new Uint16Array(n);
      var k = 0;
      for (var i = 0; i < n; ) {
        var c = b[i++];
        if (c < 0x80) {
          codes[k++] = c;
          continue;
        }
        var need, cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
          need = 1;
          cp = c & 0x1f;
          min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
          need = 2;
          cp = c & 0x0f;
          min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
          need = 3;
          cp = c & 0x07;
          min = 0x10000;
        } else {
          throw malformed();
        }
        if (i + need > n) throw malformed();
        for (var t = 0; t < need; t++) {
          var cc = b[i++];
          if ((cc & 0xc0) !== 0x80) throw malformed();
          cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw malformed();
        if (cp >= 0x10000) {
          cp -= 0x10000;
          codes[k++] = 0xd800 + (cp >>> 10);
          codes[k++] = 0xdc00 + (cp & 0x3ff);
        } else {
          codes[k++] = cp;
        }
      }
      return codesToString(codes, k);
    },
    parse: function (text) {
      var enc = utf8Bytes(String(text));
      return new WordArray(bytesToWords(enc.bytes, enc.length), enc.length);
    },
  };

  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  var B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var B64_VALUE = new Int16Array(128).fill(-1);
  for (var v = 0; v < 64; v++) {
    B64_VALUE[B64.charCodeAt(v)] = v;
    B64_VALUE[B64URL.charCodeAt(v)] = v;
  }

  function base64Encode(bytes, n, alphabet, pad) {
    var out = [];
    var i = 0;
    for (; i + 2 < n; i += 3) {
      var t = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out.push(alphabet[t >>> 18] + alphabet[(t >>> 12) & 63] + alphabet[(t >>> 6) & 63] + alphabet[t & 63]);
    }
    var rest = n - i;
    if (rest === 1) {
      var a = bytes[i] << 16;
      out.push(alphabet[a >>> 18] + alphabet[(a >>> 12) & 63] + (pad ? "==" : ""));
    } else if (rest === 2) {
      var b = (bytes[i] << 16) | (bytes[i + 1] << 8);
      out.push(alphabet[b >>> 18] + alphabet[(b >>> 12) & 63] + alphabet[(b >>> 6) & 63] + (pad ? "=" : ""));
    }
    return out.join("");
  }

  // Decodes the base64 digits of `text`, skipping anything else (whitespace, padding); strict callers check first.
  function base64Decode(text) {
    var n = text.length;
    var out = new Uint8Array(Math.ceil((n * 3) / 4));
    var acc = 0;
    var bits = 0;
    var j = 0;
    for (var i = 0; i < n; i++) {
      var c = text.charCodeAt(i);
      if (c === 61) break; // '=' ends the data
      var val = c < 128 ? B64_VALUE[c] : -1;
      if (val < 0) continue;
      acc = ((acc << 6) | val) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[j++] = (acc >>> bits) & 0xff;
      }
    }
    return { bytes: out, length: j };
  }

  var Base64 = {
    stringify: function (wa) {
      return base64Encode(wordsToBytes(wa.words, wa.sigBytes), wa.sigBytes, B64, true);
    },
    parse: function (text) {
      var dec = base64Decode(String(text));
      return new WordArray(bytesToWords(dec.bytes, dec.length), dec.length);
    },
  };

  var Base64url = {
    // CryptoJS 4.2: stringify(wa, urlSafe = true) leaves the padding off.
    stringify: function (wa, urlSafe) {
      var safe = urlSafe === undefined ? true : !!urlSafe;
      return base64Encode(wordsToBytes(wa.words, wa.sigBytes), wa.sigBytes, safe ? B64URL : B64, !safe);
    },
    parse: Base64.parse,
  };

  // ---- hash cores ----------------------------------------------------------------------------------------------
  function toWordArray(x) {
    if (typeof x === "string") return Utf8.parse(x);
    if (isWordArray(x)) return x;
    if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return WordArray.create(x);
    if (x === undefined || x === null) return new WordArray([], 0);
    return Utf8.parse(String(x));
  }

  // Message -> padded big-endian Int32Array with the bit length in the last word(s).
  function padBigEndian(wa, blockBytes) {
    var n = wa.sigBytes;
    var lenBytes = blockBytes === 128 ? 16 : 8;
    var blocks = Math.floor((n + lenBytes) / blockBytes) + 1;
    var m = new Int32Array((blocks * blockBytes) / 4);
    var words = wa.words;
    var full = n >>> 2;
    for (var i = 0; i < full; i++) m[i] = words[i];
    if (n & 3) m[full] = words[full] & (0xffffffff << (32 - (n & 3) * 8));
    m[full] |= 0x80 << (24 - (n & 3) * 8);
    var bits = n * 8;
    m[m.length - 1] = bits % 0x100000000 | 0;
    m[m.length - 2] = Math.floor(bits / 0x100000000) | 0;
    return m;
  }

  function swap32(x) {
    return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
  }

  // MD5 (RFC 1321)
  var MD5_K = new Int32Array(64);
  for (var mk = 0; mk < 64; mk++) MD5_K[mk] = (Math.abs(Math.sin(mk + 1)) * 0x100000000) | 0;
  var MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

  function md5Core(wa) {
    var m = padBigEndian(wa, 64);
    var len = m.length;
    var bits0 = m[len - 1];
    var bits1 = m[len - 2];
    for (var i = 0; i < len - 2; i++) m[i] = swap32(m[i]);
    m[len - 2] = bits0;
    m[len - 1] = bits1;
    var h0 = 0x67452301,
      h1 = 0xefcdab89 | 0,
      h2 = 0x98badcfe | 0,
      h3 = 0x10325476;
    for (var off = 0; off < len; off += 16) {
      var a = h0,
        b = h1,
        c = h2,
        d = h3;
      for (var r = 0; r < 64; r++) {
        var f, g;
        var q = r >>> 4;
        if (q === 0) {
          f = (b & c) | (~b & d);
          g = r;
        } else if (q === 1) {
          f = (b & d) | (c & ~d);
          g = (5 * r + 1) & 15;
        } else if (q === 2) {
          f = b ^ c ^ d;
          g = (3 * r + 5) & 15;
        } else {
          f = c ^ (b | ~d);
          g = (7 * r) & 15;
        }
        var s = MD5_S[(q << 2) | (r & 3)];
        var x = (a + f + MD5_K[r] + m[off + g]) | 0;
        a = d;
        d = c;
        c = b;
        b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
    }
    return new WordArray([swap32(h0), swap32(h1), swap32(h2), swap32(h3)], 16);
  }

  // SHA-1 (FIPS 180-4)
  function sha1Core(wa) {
    var m = padBigEndian(wa, 64);
    var w = new Int32Array(80);
    var h0 = 0x67452301,
      h1 = 0xefcdab89 | 0,
      h2 = 0x98badcfe | 0,
      h3 = 0x10325476,
      h4 = 0xc3d2e1f0 | 0;
    for (var off = 0; off < m.length; off += 16) {
      for (var t = 0; t < 16; t++) w[t] = m[off + t];
      for (t = 16; t < 80; t++) {
        var y = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
        w[t] = (y << 1) | (y >>> 31);
      }
      var a = h0,
        b = h1,
        c = h2,
        d = h3,
        e = h4;
      for (t = 0; t < 80; t++) {
        var f, k;
        if (t < 20) {
          f = (b & c) | (~b & d);
          k = 0x5a827999;
        } else if (t < 40) {
          f = b ^ c ^ d;
          k = 0x6ed9eba1;
        } else if (t < 60) {
          f = (b & c) | (b & d) | (c & d);
          k = 0x8f1bbcdc | 0;
        } else {
          f = b ^ c ^ d;
          k = 0xca62c1d6 | 0;
        }
        var tmp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) | 0;
        e = d;
        d = c;
        c = (b << 30) | (b >>> 2);
        b = a;
        a = tmp;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
    }
    return new WordArray([h0, h1, h2, h3, h4], 20);
  }

  // SHA-2 constants, derived exactly with BigInt integer roots: the first 64 fractional bits of the cube roots
  // (round constants) and square roots (initial values) of the first primes. SHA-256 uses the top 32 bits.
  function primes(count) {
    var out = [];
    for (var p = 2; out.length < count; p++) {
      var prime = true;
      for (var i = 0; i < out.length && out[i] * out[i] <= p; i++) {
        if (p % out[i] === 0) {
          prime = false;
          break;
        }
      }
      if (prime) out.push(p);
    }
    return out;
  }

  function iroot(n, k) {
    // floor(n ** (1/k)) for BigInt n > 0, by Newton's method from above.
    var K = BigInt(k);
    var x = BigInt(1) << BigInt(Math.ceil(n.toString(2).length / k) + 1);
    for (;;) {
      var y = ((K - BigInt(1)) * x + n / x ** (K - BigInt(1))) / K;
      if (y >= x) return x;
      x = y;
    }
  }

  function fracBits64(p, k) {
    // first 64 bits of the fractional part of p ** (1/k), as [hi, lo] int32s
    var scaled = iroot(BigInt(p) << BigInt(64 * k), k);
    var frac = scaled & ((BigInt(1) << BigInt(64)) - BigInt(1));
    return [Number(frac >> BigInt(32)) | 0, Number(frac & BigInt(0xffffffff)) | 0];
  }

  var PRIMES = primes(80);
  var K512 = new Int32Array(160);
  for (var ki = 0; ki < 80; ki++) {
    var kc = fracBits64(PRIMES[ki], 3);
    K512[2 * ki] = kc[0];
    K512[2 * ki + 1] = kc[1];
  }
  var K256 = new Int32Array(64);
  for (ki = 0; ki < 64; ki++) K256[ki] = K512[2 * ki];
  var IV512 = new Int32Array(16);
  var IV384 = new Int32Array(16);
  for (ki = 0; ki < 8; ki++) {
    var a512 = fracBits64(PRIMES[ki], 2);
    var a384 = fracBits64(PRIMES[ki + 8], 2);
    IV512[2 * ki] = a512[0];
    IV512[2 * ki + 1] = a512[1];
    IV384[2 * ki] = a384[0];
    IV384[2 * ki + 1] = a384[1];
  }
  var IV256 = new Int32Array(8);
  var IV224 = new Int32Array(8);
  for (ki = 0; ki < 8; ki++) {
    IV256[ki] = IV512[2 * ki];
    IV224[ki] = IV384[2 * ki + 1];
  }

  function sha256Core(wa, iv, outWords) {
    var m = padBigEndian(wa, 64);
    var w = new Int32Array(64);
    var H = Int32Array.from(iv);
    for (var off = 0; off < m.length; off += 16) {
      for (var t = 0; t < 16; t++) w[t] = m[off + t];
      for (t = 16; t < 64; t++) {
        var x = w[t - 15];
        var y = w[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = H[0],
        b = H[1],
        c = H[2],
        d = H[3],
        e = H[4],
        f = H[5],
        g = H[6],
        h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K256[t] + w[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0;
      H[1] = (H[1] + b) | 0;
      H[2] = (H[2] + c) | 0;
      H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0;
      H[5] = (H[5] + f) | 0;
      H[6] = (H[6] + g) | 0;
      H[7] = (H[7] + h) | 0;
    }
    return new WordArray(Array.from(H.subarray(0, outWords)), outWords * 4);
  }

  var TWO32 = 0x100000000;

  // SHA-512 over (hi, lo) int32 pairs.
  function sha512Core(wa, iv, outBytes) {
    var m = padBigEndian(wa, 128);
    var w = new Int32Array(160);
    var H = Int32Array.from(iv);
    for (var off = 0; off < m.length; off += 32) {
      for (var t = 0; t < 32; t++) w[t] = m[off + t];
      for (t = 16; t < 80; t++) {
        var xh = w[2 * (t - 15)],
          xl = w[2 * (t - 15) + 1];
        // sigma0 = rotr1 ^ rotr8 ^ shr7
        var s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
        var s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
        var yh = w[2 * (t - 2)],
          yl = w[2 * (t - 2) + 1];
        // sigma1 = rotr19 ^ rotr61 ^ shr6
        var s1h = ((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6);
        var s1l = ((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26));
        var lo =
          (w[2 * (t - 16) + 1] >>> 0) + (s0l >>> 0) + (w[2 * (t - 7) + 1] >>> 0) + (s1l >>> 0);
        var hi = w[2 * (t - 16)] + s0h + w[2 * (t - 7)] + s1h + ((lo / TWO32) | 0);
        w[2 * t] = hi | 0;
        w[2 * t + 1] = lo | 0;
      }
      var ah = H[0], al = H[1], bh = H[2], bl = H[3], ch = H[4], cl = H[5], dh = H[6], dl = H[7];
      var eh = H[8], el = H[9], fh = H[10], fl = H[11], gh = H[12], gl = H[13], hh = H[14], hl = H[15];
      for (t = 0; t < 80; t++) {
        // Sigma1(e) = rotr14 ^ rotr18 ^ rotr41
        var S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
        var S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
        var chh = (eh & fh) ^ (~eh & gh);
        var chl = (el & fl) ^ (~el & gl);
        var t1l = (hl >>> 0) + (S1l >>> 0) + (chl >>> 0) + (K512[2 * t + 1] >>> 0) + (w[2 * t + 1] >>> 0);
        var t1h = (hh + S1h + chh + K512[2 * t] + w[2 * t] + ((t1l / TWO32) | 0)) | 0;
        t1l = t1l | 0;
        // Sigma0(a) = rotr28 ^ rotr34 ^ rotr39
        var S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
        var S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
        var mjh = (ah & bh) ^ (ah & ch) ^ (bh & ch);
        var mjl = (al & bl) ^ (al & cl) ^ (bl & cl);
        var t2l = (S0l >>> 0) + (mjl >>> 0);
        var t2h = (S0h + mjh + ((t2l / TWO32) | 0)) | 0;
        t2l = t2l | 0;
        hh = gh;
        hl = gl;
        gh = fh;
        gl = fl;
        fh = eh;
        fl = el;
        var elo = (dl >>> 0) + (t1l >>> 0);
        eh = (dh + t1h + ((elo / TWO32) | 0)) | 0;
        el = elo | 0;
        dh = ch;
        dl = cl;
        ch = bh;
        cl = bl;
        bh = ah;
        bl = al;
        var alo = (t1l >>> 0) + (t2l >>> 0);
        ah = (t1h + t2h + ((alo / TWO32) | 0)) | 0;
        al = alo | 0;
      }
      var vals = [ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl];
      for (var i = 0; i < 16; i += 2) {
        var sl = (H[i + 1] >>> 0) + (vals[i + 1] >>> 0);
        H[i] = (H[i] + vals[i] + ((sl / TWO32) | 0)) | 0;
        H[i + 1] = sl | 0;
      }
    }
    return new WordArray(Array.from(H.subarray(0, outBytes / 4)), outBytes);
  }

  var ALGOS = {
    MD5: { core: md5Core, blockBytes: 64 },
    SHA1: { core: sha1Core, blockBytes: 64 },
    SHA224: { core: function (wa) { return sha256Core(wa, IV224, 7); }, blockBytes: 64 },
    SHA256: { core: function (wa) { return sha256Core(wa, IV256, 8); }, blockBytes: 64 },
    SHA384: { core: function (wa) { return sha512Core(wa, IV384, 48); }, blockBytes: 128 },
    SHA512: { core: function (wa) { return sha512Core(wa, IV512, 64); }, blockBytes: 128 },
  };

  function hmac(algo, message, key) {
    var k = toWordArray(key);
    if (k.sigBytes > algo.blockBytes) k = algo.core(k);
    var blockWords = algo.blockBytes / 4;
    var kb = wordsToBytes(k.words, k.sigBytes);
    var inner = new Array(blockWords);
    var outer = new Array(blockWords);
    var padded = new Uint8Array(algo.blockBytes);
    padded.set(kb);
    var kw = bytesToWords(padded);
    for (var i = 0; i < blockWords; i++) {
      inner[i] = kw[i] ^ 0x36363636;
      outer[i] = kw[i] ^ 0x5c5c5c5c;
    }
    var innerHash = algo.core(new WordArray(inner, algo.blockBytes).concat(toWordArray(message)));
    return algo.core(new WordArray(outer, algo.blockBytes).concat(innerHash));
  }

  // Progressive form: CryptoJS.algo.SHA256.create().update(a).update(b).finalize(); buffers, then hashes once.
  class Hasher {
    constructor(algo) {
      this._algo = algo;
      this._data = new WordArray([], 0);
    }
    update(message) {
      this._data.concat(toWordArray(message));
      return this;
    }
    finalize(message) {
      if (message !== undefined) this.update(message);
      return this._algo.core(this._data);
    }
    reset() {
      this._data = new WordArray([], 0);
      return this;
    }
  }

  class HmacHasher {
    constructor(algo, key) {
      this._algo = algo;
      this._key = key;
      this._data = new WordArray([], 0);
    }
    update(message) {
      this._data.concat(toWordArray(message));
      return this;
    }
    finalize(message) {
      if (message !== undefined) this.update(message);
      return hmac(this._algo, this._data, this._key);
    }
    reset() {
      this._data = new WordArray([], 0);
      return this;
    }
  }

  function unsupported(name) {
    return function () {
      throw new Error("not supported by Exile: CryptoJS." + name);
    };
  }

  var api = {
    lib: { WordArray: WordArray, Base: Object.freeze({}) },
    enc: { Hex: Hex, Base64: Base64, Base64url: Base64url, Utf8: Utf8, Latin1: Latin1 },
    algo: {},
  };
  Object.keys(ALGOS).forEach(function (name) {
    var algo = ALGOS[name];
    api[name] = function (message) {
      return algo.core(toWordArray(message));
    };
    api["Hmac" + name] = function (message, key) {
      return hmac(algo, message, key);
    };
    api.algo[name] = {
      create: function () {
        return new Hasher(algo);
      },
    };
  });
  api.algo.HMAC = {
    create: function (hasher, key) {
      var found = null;
      Object.keys(ALGOS).forEach(function (name) {
        if (api.algo[name] === hasher) found = ALGOS[name];
      });
      if (!found) throw new Error("not supported by Exile: CryptoJS.algo.HMAC with this hasher");
      return new HmacHasher(found, key);
    },
  };
  ["AES", "DES", "TripleDES", "RC4", "RC4Drop", "Rabbit", "RabbitLegacy", "Blowfish"].forEach(function (name) {
    api[name] = { encrypt: unsupported(name), decrypt: unsupported(name) };
  });
  ["PBKDF2", "EvpKDF", "RIPEMD160", "SHA3", "HmacRIPEMD160", "HmacSHA3", "HmacSHA224", "HmacSHA384"].forEach(
    function (name) {
      if (!api[name]) api[name] = unsupported(name);
    }
  );
  ["mode", "pad", "format", "kdf"].forEach(function (name) {
    Object.defineProperty(api, name, {
      enumerable: false,
      get: unsupported(name),
    });
  });

  return api;
})();

// ---- btoa / atob (binary strings, as browsers have them) -----------------------------------------------------------
class InvalidCharacterError extends Error {}
Object.defineProperty(InvalidCharacterError.prototype, "name", { value: "InvalidCharacterError" });

var btoa = (function () {
  "use strict";
  return function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present.");
    var text = String(data);
    for (var i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) > 0xff) {
        throw new InvalidCharacterError(
          "Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range."
        );
      }
    }
    return CryptoJS.enc.Base64.stringify(CryptoJS.enc.Latin1.parse(text));
  };
})();

var atob = (function () {
  "use strict";
  var VALID = /^[A-Za-z0-9+/]*$/;
  return function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present.");
    var text = String(data).replace(/[\t\n\f\r ]+/g, "");
    if (text.length % 4 === 0) text = text.replace(/==?$/, "");
    if (text.length % 4 === 1 || !VALID.test(text)) {
      throw new InvalidCharacterError("Failed to execute 'atob': The string to be decoded is not correctly encoded.");
    }
    return CryptoJS.enc.Latin1.stringify(CryptoJS.enc.Base64.parse(text));
  };
})();
