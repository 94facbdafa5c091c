/**
 * Known-answer vectors published in the providers' own helper libraries' tests:
 * - Twilio: twilio/twilio-csharp test/Twilio.Test/Security/RequestValidatorTest.cs and
 *   twilio/twilio-python tests/unit/test_request_validator.py (auth token `12345`);
 * - SendGrid: sendgrid/sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js.
 * The values are copied; the code under test is ours.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeTwilioSignature, verifySendgridSignature, verifyTwilioSignature } from '../src/index.js';
import { signSendgridPayload } from '../src/testing/index.js';

const TOKEN = '12345';
const URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
// Deliberately out of alphabetical order, as in the C# test.
const PARAMS: Array<[string, string]> = [
  ['CallSid', 'CA1234567890ABCDE'],
  ['From', '+14158675309'],
  ['Digits', '1234'],
  ['To', '+18005551212'],
  ['Caller', '+14158675309'],
];
const BODY = '{"property": "value", "boolean": true}';
const BODY_HASH = '0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620';

describe('X-Twilio-Signature known answers', () => {
  it('computes the published signature of the documented request', () => {
    expect(computeTwilioSignature(TOKEN, URL, PARAMS)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(computeTwilioSignature(TOKEN, URL, Object.fromEntries(PARAMS))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('signs repeated parameters sorted and once each (twilio-python duplicate vector)', () => {
    const repeated: Array<[string, string]> = [
      ['Sid', 'CA123'],
      ['SidAccount', 'AC123'],
      ['Digits', '5678'],
      ['Digits', '1234'],
      ['Digits', '1234'],
    ];
    expect(computeTwilioSignature(TOKEN, URL, repeated)).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, params: repeated, signature: 'IK+Dwps556ElfBT0I3Rgjkr1wJU=' })).toBe(true);
  });

  const cases: Array<[string, string, boolean]> = [
    // [url, signature, valid] — from twilio-csharp RequestValidatorTest.cs
    ['https://mycompany.com/myapp.php?foo=1&bar=2', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', true],
    ['https://MyCompany.com/myapp.php?foo=1&bar=2', 'g9IN/x4Cft2g517EjYvEvM/W7LU=', true],
    ['https://MyCompany.com:1234/myapp.php?foo=1&bar=2', 'PCqOZm8cnu/L6+u5i5fuEd+Iac4=', true],
    ['http://MyCompany.com/myapp.php?foo=1&bar=2', 'XY7AlKOKL6im4yWyX84gldUrtis=', true],
    ['http://username:password@MyCompany.com/myapp.php?foo=1&bar=2', 'PJ08CxXr7KLPjEQCTc8LkUSMwSM=', true],
    ['HTTP://username:password@MyCompany.com/myapp.php?foo=1&bar=2', 'hy/l8pca+LFms4cvRdv8uiP6NGc=', true],
    ['http://Username:Password@MyCompany.com/myapp.php?foo=1&bar=2', 'SkTSKyDJH9kUlhItI0slbgZ1UsI=', true],
    // the port is stripped or the default one added, as Twilio's libraries do
    ['https://mycompany.com:1234/myapp.php?foo=1&bar=2', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', true],
    ['https://mycompany.com/myapp.php?foo=1&bar=2', 'kvajT1Ptam85bY51eRf/AJRuM3w=', true],
    ['http://mycompany.com/myapp.php?foo=1&bar=2', '0ZXoZLH/DfblKGATFgpif+LLRf4=', true],
    ['https://mycompany.com:1234/myapp.php?foo=1&bar=2', 'CYn1h0gLBdNxDGkKJg6hYohgeD8=', true],
    ['http://mycompany.com:1234/myapp.php?foo=1&bar=2', 'Zmvh+3yNM1Phv2jhDCwEM3q5ebU=', true],
    // wrong ones
    ['https://MyCompany.com/myapp.php?foo=1&bar=2', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', false],
    ['http://MyCompany.com/myapp.php?foo=1&bar=2', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', false],
    ['https://mycompany.com/myapp.php?foo=1&bar=2', 'NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=', false],
  ];
  for (const [url, signature, valid] of cases) {
    it(`${valid ? 'accepts' : 'rejects'} ${signature} for ${url}`, () => {
      expect(verifyTwilioSignature({ authToken: TOKEN, url, params: PARAMS, signature })).toBe(valid);
    });
  }

  it('verifies JSON-bodied requests through bodySHA256 (twilio-csharp vectors)', () => {
    expect(verifyTwilioSignature({ authToken: TOKEN, url: `${URL}&bodySHA256=${BODY_HASH}`, rawBody: BODY, signature: 'a9nBmqA0ju/hNViExpshrM61xv4=' })).toBe(true);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: `https://mycompany.com/myapp.php?bodySHA256=${BODY_HASH}`, rawBody: BODY, signature: 'y77kIzt2vzLz71DgmJGsen2scGs=' })).toBe(true);
    // the body must match the signed hash
    expect(verifyTwilioSignature({ authToken: TOKEN, url: `${URL}&bodySHA256=${BODY_HASH}`, rawBody: `${BODY} `, signature: 'a9nBmqA0ju/hNViExpshrM61xv4=' })).toBe(false);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, rawBody: BODY, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
  });

  it('rejects a missing, empty or wrong-token signature, and any tampered input', () => {
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, params: PARAMS, signature: undefined })).toBe(false);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, params: PARAMS, signature: '' })).toBe(false);
    expect(verifyTwilioSignature({ authToken: '54321', url: URL, params: PARAMS, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: `${URL}&extra=1`, params: PARAMS, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
    const tampered = PARAMS.map(([k, v]): [string, string] => [k, k === 'Digits' ? '9999' : v]);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, params: tampered, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
    expect(verifyTwilioSignature({ authToken: TOKEN, url: URL, params: [...PARAMS, ['Extra', '']], signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
  });
});

describe('SendGrid signed Event Webhook known answers (sendgrid-nodejs eventwebhook.spec.js)', () => {
  const PUBLIC_KEY = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==';
  const SIGNATURE = 'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=';
  const TIMESTAMP = '1588788367';
  const PAYLOAD = JSON.stringify({ category: 'example_payload', event: 'test_event', message_id: 'message_id' });
  const verify = (publicKey: string, payload: string, signature: string, timestamp: string) => verifySendgridSignature({ publicKey, payload, signature, timestamp });

  it('verifies the published signature', () => {
    expect(verify(PUBLIC_KEY, PAYLOAD, SIGNATURE, TIMESTAMP)).toBe(true);
    expect(verifySendgridSignature({ publicKey: PUBLIC_KEY, payload: Buffer.from(PAYLOAD), signature: SIGNATURE, timestamp: TIMESTAMP })).toBe(true);
    const pem = `-----BEGIN PUBLIC KEY-----\n${PUBLIC_KEY}\n-----END PUBLIC KEY-----\n`;
    expect(verify(pem, PAYLOAD, SIGNATURE, TIMESTAMP)).toBe(true);
  });
  it('rejects another key', () => {
    expect(verify('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==', PAYLOAD, SIGNATURE, TIMESTAMP)).toBe(false);
  });
  it('rejects a bad payload, signature or timestamp, and missing headers', () => {
    expect(verify(PUBLIC_KEY, 'payload', SIGNATURE, TIMESTAMP)).toBe(false);
    expect(verify(PUBLIC_KEY, PAYLOAD, 'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=', TIMESTAMP)).toBe(false);
    expect(verify(PUBLIC_KEY, PAYLOAD, SIGNATURE, 'timestamp')).toBe(false);
    expect(verifySendgridSignature({ publicKey: PUBLIC_KEY, payload: PAYLOAD, signature: undefined, timestamp: TIMESTAMP })).toBe(false);
    expect(verifySendgridSignature({ publicKey: 'not a key', payload: PAYLOAD, signature: SIGNATURE, timestamp: TIMESTAMP })).toBe(false);
  });
  it('round-trips with our signer', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const sig = signSendgridPayload(privateKey, '[{"event":"open"}]', '1700000000');
    expect(verify(der, '[{"event":"open"}]', sig, '1700000000')).toBe(true);
    expect(verify(der, '[{"event":"open"}]', sig, '1700000001')).toBe(false);
  });
});
