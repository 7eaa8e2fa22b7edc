/*
 * Exile script runtime: a small moment.js subset (English only, no time zones).
 *
 * The sandbox runs in UTC, so "local" time is UTC: moment() and moment.utc() hold the same instant and print the
 * same fields; they differ only in the default format ("+00:00" vs "Z"), as in moment.
 *
 *   moment(), moment(ms | Date | moment | ISO string | other string | [y, M, d, h, m, s, ms]), moment(str, fmt[, strict])
 *   moment.utc(...), moment.unix(seconds), moment.isMoment(x), moment.isDate(x), moment.min/max, moment.now()
 *   .format(fmt) tokens: YYYY YY Q M MM MMM MMMM D DD Do DDD DDDD d dd ddd dddd E H HH h hh k kk m mm s ss S.. A a
 *                        Z ZZ X x, L LL LLL LLLL LT LTS, [escaped text]
 *   .add/.subtract(n, unit | {unit: n}), .startOf/.endOf(unit), .diff(other, unit?, float?),
 *   .isBefore/.isAfter/.isSame/.isSameOrBefore/.isSameOrAfter(other, unit?), .isBetween(a, b, unit?)
 *   getters/setters: year month date day hour(s) minute(s) second(s) millisecond(s), get(unit), set(unit, v)
 *   .utc() .local() .isUTC() .utcOffset() .clone() .isValid() .toDate() .toISOString() .toJSON() .valueOf()
 *   .unix() .toString() .toArray() .toObject() .daysInMonth() .dayOfYear() .isLeapYear() .locale()
 * moment.duration, .fromNow(), .from(), .to(), .toNow(), .calendar() throw "not supported by Exile: ...".
 *
 * Mutating methods change the moment and return it, like moment. Nothing here writes to shared objects after load.
 */
var moment = (function () {
  "use strict";

  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December"];
  var DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var LOCALE_FORMATS = {
    LTS: "h:mm:ss A",
    LT: "h:mm A",
    L: "MM/DD/YYYY",
    LL: "MMMM D, YYYY",
    LLL: "MMMM D, YYYY h:mm A",
    LLLL: "dddd, MMMM D, YYYY h:mm A",
  };
  var DEFAULT_FORMAT = "YYYY-MM-DDTHH:mm:ssZ";
  var DEFAULT_FORMAT_UTC = "YYYY-MM-DDTHH:mm:ss[Z]";
  var MS = { second: 1e3, minute: 6e4, hour: 36e5, day: 864e5, week: 6048e5 };

  function notSupported(name) {
    return new Error("not supported by Exile: " + name);
  }

  function pad(n, width) {
    var sign = n < 0 ? "-" : "";
    var s = String(Math.abs(n));
    while (s.length < width) s = "0" + s;
    return sign + s;
  }

  function isLeap(y) {
    return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  }

  function daysIn(y, m) {
    return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m];
  }

  // Date.UTC without the 0..99 -> 1900s quirk.
  function utcMs(y, mo, d, h, mi, s, ms) {
    var date = new Date(0);
    date.setUTCFullYear(y, mo, d);
    date.setUTCHours(h || 0, mi || 0, s || 0, ms || 0);
    return date.getTime();
  }

  var UNIT_ALIASES = {
    y: "year", year: "year", years: "year",
    Q: "quarter", quarter: "quarter", quarters: "quarter",
    M: "month", month: "month", months: "month",
    w: "week", week: "week", weeks: "week",
    W: "isoWeek", isoWeek: "isoWeek", isoWeeks: "isoWeek", isoweek: "isoWeek",
    d: "day", day: "day", days: "day", D: "date", date: "date", dates: "date",
    h: "hour", hour: "hour", hours: "hour",
    m: "minute", minute: "minute", minutes: "minute",
    s: "second", second: "second", seconds: "second",
    ms: "millisecond", millisecond: "millisecond", milliseconds: "millisecond",
  };

  function normUnit(unit) {
    if (unit === undefined || unit === null) return undefined;
    var u = String(unit);
    if (Object.prototype.hasOwnProperty.call(UNIT_ALIASES, u)) return UNIT_ALIASES[u];
    var lower = u.toLowerCase();
    if (Object.prototype.hasOwnProperty.call(UNIT_ALIASES, lower) && lower.length > 1) return UNIT_ALIASES[lower];
    return undefined;
  }

  // ---- parsing -------------------------------------------------------------------------------------------------
  var ISO_RE =
    /^\s*([+-]\d{6}|\d{4})(?:-(\d\d)(?:-(\d\d))?|(\d\d)(\d\d))?(?:[T ](\d\d)(?::?(\d\d)(?::?(\d\d)(?:[.,](\d+))?)?)?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?\s*$/i;

  function offsetMinutes(text) {
    if (!text || text === "Z" || text === "z") return 0;
    var m = /^([+-])(\d\d):?(\d\d)?$/.exec(text);
    if (!m) return NaN;
    var mins = parseInt(m[2], 10) * 60 + (m[3] ? parseInt(m[3], 10) : 0);
    return m[1] === "-" ? -mins : mins;
  }

  function build(y, mo, d, h, mi, s, ms, offset) {
    if (mo < 0 || mo > 11 || d < 1 || d > daysIn(y, mo)) return NaN;
    if (h < 0 || h > 24 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0 || ms > 999) return NaN;
    if (h === 24 && (mi || s || ms)) return NaN;
    return utcMs(y, mo, d, h, mi, s, ms) - (offset || 0) * 6e4;
  }

  function parseIso(text) {
    var m = ISO_RE.exec(text);
    if (!m) return undefined;
    if (m[2] === undefined && m[4] === undefined && m[6] !== undefined) return undefined; // "2020T10" is not ISO
    var y = parseInt(m[1], 10);
    var mo = m[2] !== undefined ? m[2] : m[4];
    var d = m[3] !== undefined ? m[3] : m[5];
    var frac = m[9] ? Math.floor(parseFloat("0." + m[9]) * 1000 + 1e-7) : 0;
    var off = offsetMinutes(m[10]);
    if (isNaN(off)) return NaN;
    return build(
      y,
      mo !== undefined ? parseInt(mo, 10) - 1 : 0,
      d !== undefined ? parseInt(d, 10) : 1,
      m[6] ? parseInt(m[6], 10) : 0,
      m[7] ? parseInt(m[7], 10) : 0,
      m[8] ? parseInt(m[8], 10) : 0,
      frac,
      off
    );
  }

  var PARSE_TOKEN_RE = /\[([^\]]*)\]|YYYYYY|YYYY|YY|MMMM|MMM|MM|M|Do|DDDD|DDD|DD|D|dddd|ddd|dd|d|HH|H|hh|h|kk|k|mm|m|ss|s|S+|A|a|ZZ|Z|X|x|./g;
  var MONTH_NAMES_RE = "(" + MONTHS.map(function (n) { return n + "|" + n.slice(0, 3); }).join("|") + ")";
  var DAY_NAMES_RE = "(?:" + DAYS.map(function (n) { return n + "|" + n.slice(0, 3) + "|" + n.slice(0, 2); }).join("|") + ")";

  function escapeRe(s) {
    return s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
  }

  function expandLocale(fmt) {
    return fmt.replace(/(\[[^\]]*\])|LTS|LT|LLLL|LLL|LL|L/g, function (all, esc) {
      return esc || LOCALE_FORMATS[all];
    });
  }

  function parseWithFormat(text, format, strict) {
    var fmt = expandLocale(String(format));
    var source = "";
    var fields = [];
    var m;
    var re = new RegExp(PARSE_TOKEN_RE.source, "g");
    while ((m = re.exec(fmt)) !== null) {
      var tok = m[0];
      if (m[1] !== undefined) {
        source += escapeRe(m[1]);
        continue;
      }
      var pat;
      switch (tok) {
        case "YYYYYY": pat = "([+-]?\\d{1,6})"; break;
        case "YYYY": pat = strict ? "(\\d{4})" : "([+-]?\\d{1,4})"; break;
        case "YY": pat = "(\\d\\d)"; break;
        case "MMMM": case "MMM": pat = MONTH_NAMES_RE; break;
        case "MM": case "DD": case "HH": case "hh": case "kk": case "mm": case "ss":
          pat = strict ? "(\\d\\d)" : "(\\d\\d?)"; break;
        case "M": case "D": case "H": case "h": case "k": case "m": case "s": pat = "(\\d\\d?)"; break;
        case "Do": pat = "(\\d\\d?)(?:st|nd|rd|th)?"; break;
        case "DDDD": case "DDD": pat = "(\\d{1,3})"; break;
        case "dddd": case "ddd": case "dd": pat = DAY_NAMES_RE; tok = null; break;
        case "d": pat = "(?:\\d)"; tok = null; break;
        case "A": case "a": pat = "([ap]\\.?m?\\.?)"; break;
        case "ZZ": case "Z": pat = "(Z|[+-]\\d\\d:?\\d\\d)"; break;
        case "X": pat = "(-?\\d+(?:\\.\\d+)?)"; break;
        case "x": pat = "(-?\\d+)"; break;
        default:
          if (/^S+$/.test(tok)) {
            pat = strict ? "(\\d{" + tok.length + "})" : "(\\d+)";
          } else if (/[A-Za-z0-9]/.test(tok)) {
            pat = escapeRe(tok);
            tok = null;
          } else {
            pat = strict ? escapeRe(tok) : "[^A-Za-z0-9]*?";
            tok = null;
          }
      }
      source += pat;
      if (tok) fields.push(tok);
    }
    var full = new RegExp(strict ? "^" + source + "$" : "^\\s*" + source, "i");
    var found = full.exec(String(text));
    if (!found) return NaN;
    var y = 1970, mo = 0, d = 1, h = 0, mi = 0, s = 0, ms = 0, pm = null, off = 0, haveDate = false;
    var doy = null;
    var nowDate = new Date();
    var yearSet = false, monthSet = false;
    for (var i = 0; i < fields.length; i++) {
      var v = found[i + 1];
      if (v === undefined) continue;
      switch (fields[i]) {
        case "YYYYYY": case "YYYY": y = parseInt(v, 10); yearSet = true; break;
        case "YY": var yy = parseInt(v, 10); y = yy + (yy > 68 ? 1900 : 2000); yearSet = true; break;
        case "MMMM": case "MMM":
          var lower = v.toLowerCase().slice(0, 3);
          mo = MONTHS.findIndex(function (n) { return n.toLowerCase().slice(0, 3) === lower; });
          monthSet = true;
          break;
        case "MM": case "M": mo = parseInt(v, 10) - 1; monthSet = true; break;
        case "DD": case "D": case "Do": d = parseInt(v, 10); haveDate = true; break;
        case "DDDD": case "DDD": doy = parseInt(v, 10); break;
        case "HH": case "H": case "hh": case "h": h = parseInt(v, 10); break;
        case "kk": case "k": h = parseInt(v, 10) % 24; break;
        case "mm": case "m": mi = parseInt(v, 10); break;
        case "ss": case "s": s = parseInt(v, 10); break;
        case "A": case "a": pm = v.charAt(0).toLowerCase() === "p"; break;
        case "ZZ": case "Z": off = offsetMinutes(v); break;
        case "X": return Math.round(parseFloat(v) * 1000);
        case "x": return parseInt(v, 10);
        default: ms = Math.floor(parseFloat("0." + v) * 1000 + 1e-7);
      }
    }
    if (!yearSet && !monthSet && !haveDate && doy === null) {
      // time-only formats mean today, as in moment
      y = nowDate.getUTCFullYear();
      mo = nowDate.getUTCMonth();
      d = nowDate.getUTCDate();
    } else if (!yearSet) {
      y = nowDate.getUTCFullYear();
    }
    if (pm !== null) {
      if (h < 1 || h > 12) return NaN;
      if (pm && h < 12) h += 12;
      if (!pm && h === 12) h = 0;
    }
    if (doy !== null) {
      if (doy < 1 || doy > (isLeap(y) ? 366 : 365)) return NaN;
      return utcMs(y, 0, doy, h, mi, s, ms) - off * 6e4;
    }
    return build(y, mo, d, h, mi, s, ms, off);
  }

  function toMs(input, format, strict) {
    if (input === undefined) return Date.now();
    if (input === null) return NaN;
    if (input instanceof Moment) return input._t;
    if (input instanceof Date) return input.getTime();
    if (typeof input === "number") return input;
    if (Array.isArray(input)) {
      if (input.length === 0) return Date.now();
      return build(input[0], input[1] || 0, input.length > 2 ? input[2] : 1, input[3] || 0, input[4] || 0,
        input[5] || 0, input[6] || 0, 0);
    }
    if (typeof input === "object") {
      var get = function (names, dflt) {
        for (var i = 0; i < names.length; i++) if (input[names[i]] !== undefined) return +input[names[i]];
        return dflt;
      };
      return build(get(["year", "years", "y"], new Date().getUTCFullYear()), get(["month", "months", "M"], 0),
        get(["date", "dates", "day", "days", "d", "D"], 1), get(["hour", "hours", "h"], 0),
        get(["minute", "minutes", "m"], 0), get(["second", "seconds", "s"], 0),
        get(["millisecond", "milliseconds", "ms"], 0), 0);
    }
    var text = String(input);
    if (format !== undefined && format !== null) {
      if (Array.isArray(format)) {
        for (var f = 0; f < format.length; f++) {
          var t = parseWithFormat(text, format[f], strict);
          if (!isNaN(t)) return t;
        }
        return NaN;
      }
      if (format === moment.ISO_8601) {
        var iso0 = parseIso(text);
        return iso0 === undefined ? NaN : iso0;
      }
      return parseWithFormat(text, format, strict);
    }
    var iso = parseIso(text);
    if (iso !== undefined) return iso;
    return new Date(text).getTime(); // moment falls back to the Date parser (RFC 2822 and friends)
  }

  // ---- formatting ----------------------------------------------------------------------------------------------
  var FORMAT_TOKEN_RE = /\[([^\]]*)\]|YYYYYY|YYYY|YY|Q|MMMM|MMM|MM|M|Do|DDDD|DDD|DD|D|dddd|ddd|dd|d|E|HH|H|hh|h|kk|k|mm|m|ss|s|S{1,9}|A|a|ZZ|Z|X|x/g;

  function ordinal(n) {
    var rem100 = n % 100;
    if (rem100 >= 11 && rem100 <= 13) return n + "th";
    return n + (["th", "st", "nd", "rd"][n % 10] || "th");
  }

  function dayOfYear(date) {
    return Math.round((utcMs(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()) -
      utcMs(date.getUTCFullYear(), 0, 1)) / 864e5) + 1;
  }

  function formatMs(t, fmt) {
    var date = new Date(t);
    var Y = date.getUTCFullYear(), M = date.getUTCMonth(), D = date.getUTCDate(), wd = date.getUTCDay();
    var H = date.getUTCHours(), mi = date.getUTCMinutes(), s = date.getUTCSeconds(), ms = date.getUTCMilliseconds();
    var h12 = H % 12 === 0 ? 12 : H % 12;
    return expandLocale(fmt).replace(FORMAT_TOKEN_RE, function (tok, esc) {
      if (esc !== undefined) return esc;
      switch (tok) {
        case "YYYYYY": return (Y < 0 ? "-" : "+") + pad(Math.abs(Y), 6);
        case "YYYY": return Y >= 0 && Y <= 9999 ? pad(Y, 4) : (Y < 0 ? "-" : "+") + pad(Math.abs(Y), 6);
        case "YY": return pad(((Y % 100) + 100) % 100, 2);
        case "Q": return String(Math.floor(M / 3) + 1);
        case "MMMM": return MONTHS[M];
        case "MMM": return MONTHS[M].slice(0, 3);
        case "MM": return pad(M + 1, 2);
        case "M": return String(M + 1);
        case "Do": return ordinal(D);
        case "DDDD": return pad(dayOfYear(date), 3);
        case "DDD": return String(dayOfYear(date));
        case "DD": return pad(D, 2);
        case "D": return String(D);
        case "dddd": return DAYS[wd];
        case "ddd": return DAYS[wd].slice(0, 3);
        case "dd": return DAYS[wd].slice(0, 2);
        case "d": return String(wd);
        case "E": return String(wd === 0 ? 7 : wd);
        case "HH": return pad(H, 2);
        case "H": return String(H);
        case "hh": return pad(h12, 2);
        case "h": return String(h12);
        case "kk": return pad(H === 0 ? 24 : H, 2);
        case "k": return String(H === 0 ? 24 : H);
        case "mm": return pad(mi, 2);
        case "m": return String(mi);
        case "ss": return pad(s, 2);
        case "s": return String(s);
        case "A": return H < 12 ? "AM" : "PM";
        case "a": return H < 12 ? "am" : "pm";
        case "ZZ": return "+0000";
        case "Z": return "+00:00";
        case "X": return String(Math.floor(t / 1000));
        case "x": return String(t);
        default: // S..SSSSSSSSS: fractional seconds, truncated or zero-padded
          return (pad(ms, 3) + "000000").slice(0, tok.length);
      }
    });
  }

  // ---- the Moment type -----------------------------------------------------------------------------------------
  class Moment {
    constructor(t, isUtc) {
      this._t = typeof t === "number" && isFinite(t) && Math.abs(t) <= 8.64e15 ? t : NaN;
      this._utc = !!isUtc;
    }

    _date() {
      return new Date(this._t);
    }

    _setFields(fn) {
      if (!this.isValid()) return this;
      var date = this._date();
      fn(date);
      this._t = date.getTime();
      return this;
    }

    isValid() {
      return !isNaN(this._t);
    }

    clone() {
      return new Moment(this._t, this._utc);
    }

    utc() {
      this._utc = true;
      return this;
    }

    local() {
      this._utc = false;
      return this;
    }

    isUTC() {
      return this._utc;
    }

    isUtc() {
      return this._utc;
    }

    isLocal() {
      return !this._utc;
    }

    utcOffset() {
      return 0;
    }

    locale() {
      return arguments.length ? this : "en";
    }

    valueOf() {
      return this._t;
    }

    unix() {
      return Math.floor(this._t / 1000);
    }

    toDate() {
      return new Date(this._t);
    }

    toISOString() {
      return this.isValid() ? formatMs(this._t, "YYYY-MM-DDTHH:mm:ss.SSS[Z]") : null;
    }

    toJSON() {
      return this.toISOString();
    }

    toString() {
      return this.isValid() ? formatMs(this._t, "ddd MMM DD YYYY HH:mm:ss [GMT]ZZ") : "Invalid date";
    }

    inspect() {
      return 'moment("' + this.toString() + '")';
    }

    format(fmt) {
      if (!this.isValid()) return "Invalid date";
      return formatMs(this._t, fmt === undefined || fmt === null || fmt === "" ?
        (this._utc ? DEFAULT_FORMAT_UTC : DEFAULT_FORMAT) : String(fmt));
    }

    toArray() {
      var d = this._date();
      return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(),
        d.getUTCSeconds(), d.getUTCMilliseconds()];
    }

    toObject() {
      var a = this.toArray();
      return { years: a[0], months: a[1], date: a[2], hours: a[3], minutes: a[4], seconds: a[5], milliseconds: a[6] };
    }

    // getters / setters
    year(v) {
      if (v === undefined) return this._date().getUTCFullYear();
      return this._setFields(function (d) {
        var mo = d.getUTCMonth();
        d.setUTCFullYear(+v, mo, Math.min(d.getUTCDate(), daysIn(+v, mo)));
      });
    }

    month(v) {
      if (v === undefined) return this._date().getUTCMonth();
      if (typeof v === "string" && isNaN(+v)) {
        var lower = v.toLowerCase().slice(0, 3);
        v = MONTHS.findIndex(function (n) { return n.toLowerCase().slice(0, 3) === lower; });
        if (v < 0) return this;
      }
      return this._setFields(function (d) {
        var y = d.getUTCFullYear();
        var target = utcMs(y, +v, 1);
        var td = new Date(target);
        var day = Math.min(d.getUTCDate(), daysIn(td.getUTCFullYear(), td.getUTCMonth()));
        d.setUTCFullYear(td.getUTCFullYear(), td.getUTCMonth(), day);
      });
    }

    quarter(v) {
      if (v === undefined) return Math.floor(this.month() / 3) + 1;
      return this.month((v - 1) * 3 + (this.month() % 3));
    }

    date(v) {
      if (v === undefined) return this._date().getUTCDate();
      return this._setFields(function (d) { d.setUTCDate(+v); });
    }

    dates(v) { return this.date(v); }

    day(v) {
      if (v === undefined) return this._date().getUTCDay();
      if (typeof v === "string" && isNaN(+v)) {
        var lower = v.toLowerCase().slice(0, 2);
        v = DAYS.findIndex(function (n) { return n.toLowerCase().slice(0, 2) === lower; });
        if (v < 0) return this;
      }
      return this.add(+v - this.day(), "d");
    }

    days(v) { return this.day(v); }

    weekday(v) { return this.day(v); }

    isoWeekday(v) {
      if (v === undefined) return this.day() || 7;
      return this.day(this.day() % 7 ? (+v) : +v - 7);
    }

    dayOfYear(v) {
      if (v === undefined) return dayOfYear(this._date());
      return this.add(+v - dayOfYear(this._date()), "d");
    }

    hour(v) {
      if (v === undefined) return this._date().getUTCHours();
      return this._setFields(function (d) { d.setUTCHours(+v); });
    }

    hours(v) { return this.hour(v); }

    minute(v) {
      if (v === undefined) return this._date().getUTCMinutes();
      return this._setFields(function (d) { d.setUTCMinutes(+v); });
    }

    minutes(v) { return this.minute(v); }

    second(v) {
      if (v === undefined) return this._date().getUTCSeconds();
      return this._setFields(function (d) { d.setUTCSeconds(+v); });
    }

    seconds(v) { return this.second(v); }

    millisecond(v) {
      if (v === undefined) return this._date().getUTCMilliseconds();
      return this._setFields(function (d) { d.setUTCMilliseconds(+v); });
    }

    milliseconds(v) { return this.millisecond(v); }

    years(v) { return this.year(v); }

    months(v) { return this.month(v); }

    get(unit) {
      var u = normUnit(unit);
      if (u === "date") return this.date();
      if (u === "isoWeek") return undefined;
      return u && typeof this[u] === "function" ? this[u]() : undefined;
    }

    set(unit, value) {
      if (unit !== null && typeof unit === "object") {
        var order = ["year", "month", "date", "day", "hour", "minute", "second", "millisecond"];
        var self = this;
        var keys = Object.keys(unit).map(function (k) { return [normUnit(k), unit[k]]; });
        order.forEach(function (u) {
          keys.forEach(function (kv) { if (kv[0] === u) self.set(u, kv[1]); });
        });
        return this;
      }
      var u = normUnit(unit);
      if (u && u !== "week" && u !== "isoWeek" && typeof this[u] === "function") return this[u](value);
      return this;
    }

    daysInMonth() {
      var d = this._date();
      return daysIn(d.getUTCFullYear(), d.getUTCMonth());
    }

    isLeapYear() {
      return isLeap(this.year());
    }

    // arithmetic
    add(amount, unit) {
      return addSubtract(this, amount, unit, 1);
    }

    subtract(amount, unit) {
      return addSubtract(this, amount, unit, -1);
    }

    startOf(unit) {
      var u = normUnit(unit);
      if (!u || u === "millisecond" || !this.isValid()) return this;
      var d = this._date();
      var y = d.getUTCFullYear(), mo = d.getUTCMonth(), day = d.getUTCDate();
      switch (u) {
        case "year": this._t = utcMs(y, 0, 1); break;
        case "quarter": this._t = utcMs(y, mo - (mo % 3), 1); break;
        case "month": this._t = utcMs(y, mo, 1); break;
        case "week": this._t = utcMs(y, mo, day - d.getUTCDay()); break;
        case "isoWeek": this._t = utcMs(y, mo, day - ((d.getUTCDay() + 6) % 7)); break;
        case "day": case "date": this._t = utcMs(y, mo, day); break;
        case "hour": this._t = utcMs(y, mo, day, d.getUTCHours()); break;
        case "minute": this._t = utcMs(y, mo, day, d.getUTCHours(), d.getUTCMinutes()); break;
        case "second": this._t = utcMs(y, mo, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()); break;
      }
      return this;
    }

    endOf(unit) {
      var u = normUnit(unit);
      if (!u || u === "millisecond" || !this.isValid()) return this;
      this.startOf(u);
      var step = u === "isoWeek" ? "week" : u === "date" ? "day" : u;
      addSubtract(this, 1, step, 1);
      this._t -= 1;
      return this;
    }

    // comparison
    isBefore(other, unit) {
      var t = toMs(other);
      if (!this.isValid() || isNaN(t)) return false;
      var u = normUnit(unit);
      if (!u || u === "millisecond") return this._t < t;
      return this.clone().endOf(u)._t < t;
    }

    isAfter(other, unit) {
      var t = toMs(other);
      if (!this.isValid() || isNaN(t)) return false;
      var u = normUnit(unit);
      if (!u || u === "millisecond") return this._t > t;
      return t < this.clone().startOf(u)._t;
    }

    isSame(other, unit) {
      var t = toMs(other);
      if (!this.isValid() || isNaN(t)) return false;
      var u = normUnit(unit);
      if (!u || u === "millisecond") return this._t === t;
      return this.clone().startOf(u)._t <= t && t <= this.clone().endOf(u)._t;
    }

    isSameOrBefore(other, unit) {
      return this.isSame(other, unit) || this.isBefore(other, unit);
    }

    isSameOrAfter(other, unit) {
      return this.isSame(other, unit) || this.isAfter(other, unit);
    }

    isBetween(a, b, unit, inclusivity) {
      var inc = inclusivity || "()";
      var afterA = inc[0] === "(" ? this.isAfter(a, unit) : !this.isBefore(a, unit);
      var beforeB = inc[1] === ")" ? this.isBefore(b, unit) : !this.isAfter(b, unit);
      return afterA && beforeB;
    }

    diff(other, unit, asFloat) {
      var that = other instanceof Moment ? other : new Moment(toMs(other), false);
      if (!this.isValid() || !that.isValid()) return NaN;
      var u = normUnit(unit);
      var out;
      if (u === "year" || u === "month" || u === "quarter") {
        out = monthsBetween(this, that);
        if (u === "year") out /= 12;
        else if (u === "quarter") out /= 3;
      } else {
        var delta = this._t - that._t;
        var per = u === "isoWeek" ? MS.week : u === "date" ? MS.day : MS[u];
        out = per ? delta / per : delta;
      }
      if (asFloat) return out;
      return out < 0 ? Math.ceil(out) || 0 : Math.floor(out);
    }

    // relative time needs locale tables Exile does not carry
    fromNow() { throw notSupported("moment().fromNow"); }
    from() { throw notSupported("moment().from"); }
    toNow() { throw notSupported("moment().toNow"); }
    to() { throw notSupported("moment().to"); }
    calendar() { throw notSupported("moment().calendar"); }
    tz() { throw notSupported("moment().tz"); }
  }

  // Fractional months of `b` after `a`, measured like moment: whole months, then the remainder as a share of the
  // month it falls in. Result is positive when `a` is later than `b`.
  function monthsBetween(a, b) {
    if (a.date() < b.date()) return -monthsBetween(b, a);
    var whole = (b.year() - a.year()) * 12 + (b.month() - a.month());
    var anchor = a.clone().add(whole, "M")._t;
    var rest = b._t - anchor;
    var span;
    if (rest < 0) span = anchor - a.clone().add(whole - 1, "M")._t;
    else span = a.clone().add(whole + 1, "M")._t - anchor;
    return -(whole + rest / span) || 0;
  }

  function roundAway(x) {
    return x < 0 ? -Math.round(-x) : Math.round(x);
  }

  function addSubtract(m, amount, unit, sign) {
    var parts;
    if (amount instanceof Moment || amount === undefined || amount === null) return m;
    if (typeof amount === "object") {
      parts = amount;
    } else {
      if (typeof amount === "string" && isNaN(+amount) && unit !== undefined) {
        var tmp = amount; // legacy argument order: add("days", 1)
        amount = unit;
        unit = tmp;
      }
      parts = {};
      parts[unit === undefined ? "ms" : unit] = amount;
    }
    var months = 0, days = 0, ms = 0;
    Object.keys(parts).forEach(function (key) {
      var n = +parts[key];
      if (!isFinite(n)) return;
      switch (normUnit(key)) {
        case "year": months += n * 12; break;
        case "quarter": months += n * 3; break;
        case "month": months += n; break;
        case "week": case "isoWeek": days += n * 7; break;
        case "day": case "date": days += n; break;
        case "hour": ms += n * MS.hour; break;
        case "minute": ms += n * MS.minute; break;
        case "second": ms += n * MS.second; break;
        case "millisecond": ms += n; break;
      }
    });
    if (!m.isValid()) return m;
    months = roundAway(months) * sign;
    days = roundAway(days) * sign;
    ms = ms * sign;
    if (ms) m._t = m._t + ms;
    if (days) m._setFields(function (d) { d.setUTCDate(d.getUTCDate() + days); });
    if (months) {
      m._setFields(function (d) {
        var total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
        var y = Math.floor(total / 12);
        var mo = total - y * 12;
        d.setUTCFullYear(y, mo, Math.min(d.getUTCDate(), daysIn(y, mo)));
      });
    }
    m._t = new Moment(m._t)._t;
    return m;
  }

  function moment(input, format, strict) {
    return new Moment(toMs(input, format, strict), false);
  }

  moment.utc = function (input, format, strict) {
    return new Moment(toMs(input, format, strict), true);
  };
  moment.unix = function (seconds) {
    return new Moment(Math.floor(+seconds * 1000), false);
  };
  moment.isMoment = function (x) {
    return x instanceof Moment;
  };
  moment.isDate = function (x) {
    return x instanceof Date;
  };
  moment.now = function () {
    return Date.now();
  };
  moment.invalid = function () {
    return new Moment(NaN, false);
  };
  moment.min = function () {
    var list = Array.isArray(arguments[0]) ? arguments[0] : Array.prototype.slice.call(arguments);
    return list.reduce(function (a, b) { return !b.isValid() || b._t < a._t ? b : a; }).clone();
  };
  moment.max = function () {
    var list = Array.isArray(arguments[0]) ? arguments[0] : Array.prototype.slice.call(arguments);
    return list.reduce(function (a, b) { return !b.isValid() || b._t > a._t ? b : a; }).clone();
  };
  moment.locale = function () {
    return "en";
  };
  moment.duration = function () {
    throw notSupported("moment.duration");
  };
  moment.isDuration = function () {
    return false;
  };
  moment.parseZone = function () {
    throw notSupported("moment.parseZone");
  };
  moment.tz = function () {
    throw notSupported("moment.tz");
  };
  moment.ISO_8601 = function () {};
  moment.defaultFormat = DEFAULT_FORMAT;
  moment.defaultFormatUtc = DEFAULT_FORMAT_UTC;
  moment.fn = Moment.prototype;
  moment.version = "2.29.4-exile";
  return moment;
})();
