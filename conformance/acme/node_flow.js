#!/usr/bin/env node
// Signet ACME conformance with npm acme-client 5: EAB account, email order,
// challenge mail from the outbox, reply through `signet mail ingest`, poll,
// finalize (base64url DER CSR), download.
// Usage: node_flow.js DIRECTORY_URL KID HMAC_KEY EMAIL OUTBOX SIGNET DATA_DIR OUT_DIR
// (trust the dev root with NODE_EXTRA_CA_CERTS; NODE_PATH must reach acme-client)
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const acme = require('acme-client');

const [directoryUrl, kid, hmacKey, addr, outbox, signet, dataDir, outDir] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function header(text, name) {
    const re = new RegExp(`^${name}:\\s*(.*)$`, 'im');
    const m = text.match(re);
    return m ? m[1].trim() : '';
}

async function challengeMail(seen) {
    for (let i = 0; i < 150; i += 1) {
        for (const name of fs.readdirSync(outbox).sort()) {
            const p = path.join(outbox, name);
            if (name.startsWith('.') || seen.has(p)) continue;
            const text = fs.readFileSync(p, 'utf8');
            if (header(text, 'To').includes(addr) && header(text, 'Subject').startsWith('ACME: ')) return text;
        }
        await sleep(200);
    }
    throw new Error('no challenge mail');
}

(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    const client = new acme.Client({
        directoryUrl,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        externalAccountBinding: { kid, hmacKey },
    });
    await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${addr}`] });
    console.log('account', client.getAccountUrl());

    const order = await client.createOrder({ identifiers: [{ type: 'email', value: addr }] });
    const [authz] = await client.getAuthorizations(order);
    const challenge = authz.challenges.find((c) => c.type === 'email-reply-00');
    if (!challenge || !challenge.from) throw new Error(`no email-reply-00 challenge: ${JSON.stringify(authz)}`);

    const seen = new Set(fs.readdirSync(outbox).map((n) => path.join(outbox, n)));
    await client.completeChallenge(challenge);
    const mail = await challengeMail(seen);
    const part1 = header(mail, 'Subject').slice('ACME: '.length);
    const jwk = client.http.getJwk();
    const thumbprint = crypto.createHash('sha256').update(JSON.stringify(jwk)).digest('base64url');
    const digest = crypto.createHash('sha256').update(`${part1}${challenge.token}.${thumbprint}`).digest('base64url');
    const messageId = header(mail, 'Message-ID');
    const reply = [
        `From: ${addr}`,
        `To: ${header(mail, 'From')}`,
        `Subject: Re: ${header(mail, 'Subject')}`,
        `Message-ID: <node-${crypto.randomUUID()}@example.com>`,
        `In-Reply-To: ${messageId}`,
        `References: ${messageId}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        '-----BEGIN ACME RESPONSE-----',
        digest,
        '-----END ACME RESPONSE-----',
        '',
    ].join('\r\n');
    const env = { ...process.env, SIGNET_SERVER__DATA_DIR: dataDir };
    delete env.SIGNET_CONFIG;
    execFileSync(signet, ['mail', 'ingest'], { input: reply, env });

    await client.waitForValidStatus(authz);
    console.log('authorization valid');

    const certKey = await acme.crypto.createPrivateEcdsaKey();
    // No commonName: acme-client would copy it into the SAN as a DNS name.
    const [, csr] = await acme.crypto.createCsr({ emailAddress: addr }, certKey);
    const finalized = await client.finalizeOrder(order, csr);
    const valid = await client.waitForValidStatus(finalized);
    const chain = await client.getCertificate(valid);
    if ((chain.match(/BEGIN CERTIFICATE/g) || []).length !== 2) throw new Error(`unexpected chain: ${chain}`);
    fs.writeFileSync(path.join(outDir, 'fullchain.pem'), chain);
    fs.writeFileSync(path.join(outDir, 'key.pem'), certKey);
    console.log('certificate issued', valid.certificate);
})().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
});
