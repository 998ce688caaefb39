// NGINX + njs: the bench's JWT check, the policy Waypost's auth applies to the bench
// tenant (tests/benches/gateways.rs fills in the placeholders). `tenant(r)` is the
// `js_set` handler of nginx.conf: the `tenant` claim of a valid HS256 bearer token,
// or "" (nginx.conf answers 401 for "").
//
// Checked: `Authorization: Bearer <JWT>`, header `alg` = HS256 (no `none`, no other
// algorithm), the HMAC-SHA256 signature (crypto.createHmac, compared in constant
// time), `iss`, `aud` (a string or a list), `exp` with 30 s leeway, `nbf` when present,
// and a non-empty `tenant` claim.

const crypto = require('crypto');

const SECRET = '{{SECRET}}';
const ISS = '{{ISS}}';
const AUD = '{{AUD}}';
const LEEWAY_SECS = 30;

function json(part) {
    return JSON.parse(Buffer.from(part, 'base64url').toString());
}

/// Equal strings, in time that depends only on their lengths.
function same(a, b) {
    if (a.length !== b.length) {
        return false;
    }
    var diff = 0;
    for (var i = 0; i < a.length; i++) {
        diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    }
    return diff === 0;
}

function tenant(r) {
    var auth = r.headersIn.Authorization;
    if (!auth || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== 'bearer ') {
        return '';
    }
    var parts = auth.slice(7).trim().split('.');
    if (parts.length !== 3) {
        return '';
    }
    var header, claims;
    try {
        header = json(parts[0]);
        claims = json(parts[1]);
    } catch (e) {
        return '';
    }
    if (header.alg !== 'HS256') {
        return '';
    }
    var signature = crypto.createHmac('sha256', SECRET)
        .update(parts[0] + '.' + parts[1])
        .digest('base64url');
    if (!same(signature, parts[2])) {
        return '';
    }
    var now = Date.now() / 1000;
    var aud = claims.aud;
    if (claims.iss !== ISS
        || !(aud === AUD || (Array.isArray(aud) && aud.indexOf(AUD) >= 0))
        || typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECS < now
        || (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECS > now)
        || typeof claims.tenant !== 'string' || claims.tenant === '') {
        return '';
    }
    return claims.tenant;
}

export default { tenant };
