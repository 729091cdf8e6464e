// A loopback LMS for the drain benchmark (make bench), in Node so that it is not the
// bottleneck (one event loop, no per-request thread): it answers what mod_ptech's drainer
// sends as Moodle 4.5 does and counts every delivery, so the bench can check that each score
// arrived exactly once.
//   POST /mod/lti/service.php  LTI 1.1 replaceResult (POX).  OAuth 1.0a checked in full: the
//                              body hash and the HMAC-SHA1 signature with the consumer
//                              secret.  Answered with Moodle's success envelope.
//   POST /token                client_credentials: an access token (JSON labelled text/html,
//                              as Moodle's token.php).
//   POST .../scores            AGS score with "Authorization: Bearer <token>": 200.
//   GET  /stats                JSON: received, unique, duplicates, bad, first_ms, last_ms.
//   POST /reset                zeroes the counts.
// usage: node lms.js KEY SECRET  (prints "port N" on stdout once listening on 127.0.0.1)
'use strict';
const http = require('http');
const crypto = require('crypto');

const [KEY, SECRET] = process.argv.slice(2);
const TOKEN = crypto.randomBytes(24).toString('hex');
let seen, stats;

function reset() {
    seen = new Map();
    stats = {received: 0, unique: 0, duplicates: 0, bad: 0, first_ms: 0, last_ms: 0,
             last_bad: ''};
}
reset();

// RFC 3986 percent-encoding as OAuth 1.0a wants it.
function enc(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g,
        (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function verifyOAuth(req, url, body) {
    const auth = req.headers.authorization || '';
    if (!auth.startsWith('OAuth ')) {
        return 'no OAuth header';
    }
    const params = [];
    const o = {};
    for (const m of auth.slice(6).matchAll(/([\w%.-]+)="([^"]*)"/g)) {
        const k = decodeURIComponent(m[1]), v = decodeURIComponent(m[2]);
        o[k] = v;
        if (k !== 'oauth_signature' && k !== 'realm') {
            params.push([k, v]);
        }
    }
    if (o.oauth_consumer_key !== KEY || o.oauth_signature_method !== 'HMAC-SHA1') {
        return 'wrong key or method';
    }
    if (o.oauth_body_hash !== crypto.createHash('sha1').update(body).digest('base64')) {
        return 'bad body hash';
    }
    const q = url.indexOf('?');
    if (q >= 0) {
        for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
            params.push([k, v]);
        }
    }
    const norm = params.map(([k, v]) => [enc(k), enc(v)])
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1]))
        .map(([k, v]) => k + '=' + v).join('&');
    const base = 'POST&' + enc('http://' + req.headers.host + (q >= 0 ? url.slice(0, q) : url))
        + '&' + enc(norm);
    const want = crypto.createHmac('sha1', enc(SECRET) + '&').update(base).digest();
    const got = Buffer.from(o.oauth_signature || '', 'base64');
    if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
        return 'bad signature';
    }
    return null;
}

function count(target) {
    const now = Date.now();
    const n = (seen.get(target) || 0) + 1;
    seen.set(target, n);
    stats.received++;
    if (n === 1) {
        stats.unique++;
    } else {
        stats.duplicates++;
    }
    if (!stats.first_ms) {
        stats.first_ms = now;
    }
    stats.last_ms = now;
}

function bad(why) {
    stats.bad++;
    stats.last_bad = why;
}

const NS = 'http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0';
function pox(major, desc, ref) {
    return '<?xml version="1.0" encoding="UTF-8"?>\n<imsx_POXEnvelopeResponse xmlns="' + NS
        + '"><imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0</imsx_version>'
        + '<imsx_messageIdentifier>' + crypto.randomInt(1e9) + '</imsx_messageIdentifier>'
        + '<imsx_statusInfo><imsx_codeMajor>' + major + '</imsx_codeMajor><imsx_severity>'
        + 'status</imsx_severity><imsx_description>' + desc + '</imsx_description>'
        + '<imsx_messageRefIdentifier>' + ref + '</imsx_messageRefIdentifier>'
        + '<imsx_operationRefIdentifier>replaceResultRequest</imsx_operationRefIdentifier>'
        + '</imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader><imsx_POXBody>'
        + '<replaceResultResponse/></imsx_POXBody></imsx_POXEnvelopeResponse>';
}

function send(res, status, type, text) {
    res.writeHead(status, {'Content-Type': type, 'Content-Length': Buffer.byteLength(text)});
    res.end(text);
}

function handle(req, res, body) {
    const url = req.url;
    if (req.method === 'GET' && url === '/stats') {
        return send(res, 200, 'application/json', JSON.stringify(stats));
    }
    if (req.method === 'POST' && url === '/reset') {
        reset();
        return send(res, 200, 'application/json', '{}');
    }
    if (req.method === 'POST' && url.startsWith('/mod/lti/service.php')) {
        const text = body.toString('utf8');
        const why = verifyOAuth(req, url, body);
        const sid = /<sourcedId>([^<]*)<\/sourcedId>/.exec(text);
        const score = /<textString>([^<]*)<\/textString>/.exec(text);
        const msg = /<imsx_messageIdentifier>([^<]*)</.exec(text);
        if (why || !sid || !score || !/<replaceResultRequest>/.test(text)) {
            bad(why || 'not a replaceResult');
            return send(res, 200, 'application/xml',
                        pox('failure', 'Message signature not valid', ''));
        }
        count(sid[1] + '\t' + score[1]);
        return send(res, 200, 'application/xml',
                    pox('success', 'Grade replace response', msg ? msg[1] : ''));
    }
    if (req.method === 'POST' && url === '/token') {
        return send(res, 200, 'text/html; charset=utf-8', JSON.stringify(
            {access_token: TOKEN, token_type: 'Bearer', expires_in: 3600}));
    }
    if (req.method === 'POST' && /\/scores(\?|$)/.test(url)) {
        if (req.headers.authorization !== 'Bearer ' + TOKEN) {
            bad('bad bearer token');
            return send(res, 401, 'application/json', '{"error":"invalid_token"}');
        }
        let score;
        try {
            score = JSON.parse(body.toString('utf8'));
        } catch (e) {
            bad('score not JSON');
            return send(res, 400, 'application/json', '{}');
        }
        count(url + '\t' + score.userId + '\t' + score.scoreGiven);
        return send(res, 200, 'application/json', '{}');
    }
    send(res, 404, 'text/plain', 'not found');
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.LMS_PORT || 0), '127.0.0.1', () => {
    process.stdout.write('port ' + server.address().port + '\n');
});
