// tests/e2e/s3/js_sdk_suite.mjs: the AWS SDK for JavaScript v3 (npm,
// pinned in package.json, installed by tools/deps-js) against the S3
// listener, as tests/e2e/test_s3.py runs it: node js_sdk_suite.mjs '<json
// args>' (endpoint, bucket), keys from the environment.  It prints its
// checks, then one JSON line: {"failures": [...], "info": {"objects":
// {key: md5}}} for the test to look at natively and on the volumes' disks.
//
// What it adds to the Debian clients: this SDK sends its default CRC32
// checksums on every upload, and streams a body over plain HTTP as
// aws-chunked with Transfer-Encoding: chunked (no Content-Length) and a
// trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER), which none of the others
// does.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';

import {
    AbortMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand,
    CreateMultipartUploadCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand,
    HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command,
    ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

const args = JSON.parse(process.argv[2] || '{}');
const endpoint = args.endpoint || 'http://127.0.0.1:3900';
const B = args.bucket || 'js-sdk';
const region = process.env.AWS_DEFAULT_REGION || 'us-east-1';
const s3 = new S3Client({ endpoint, forcePathStyle: true, region, maxAttempts: 1 });
const failures = [];
const objects = {};
const seen = []; // the upload headers the SDK sent, by request

s3.middlewareStack.add((next) => async (a) => {
    const h = a.request.headers || {};
    if (a.request.method === 'PUT')
        seen.push([h['x-amz-content-sha256'], h['content-encoding'] || '',
            h['transfer-encoding'] || '', h['x-amz-trailer'] || ''].join(' '));
    return next(a);
}, { step: 'finalizeRequest', priority: 'low', name: 'mkvSeen' });

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');
function check(cond, what, expected, got) {
    if (cond) {
        console.log('ok', what);
        return true;
    }
    failures.push(`${what}: expected ${expected}, got ${got}`);
    console.log('FAIL', what);
    return false;
}
async function expectError(what, fn, name, status) {
    try {
        await fn();
        check(false, what, `${name} (${status})`, 'success');
    } catch (e) {
        const st = e.$metadata && e.$metadata.httpStatusCode;
        check((name === null || e.name === name) && st === status, what, `${name} (${status})`,
            `${e.name} (${st})`);
    }
}
async function bytesOf(key, extra = {}) {
    const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: key, ...extra }));
    return [r, Buffer.from(await r.Body.transformToByteArray())];
}
async function put(key, body, extra = {}, want = body) {
    const r = await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: body, ...extra }));
    if (check(r.ETag === `"${md5(want)}"`, `PutObject ${key}: ETag`, md5(want), r.ETag))
        objects[key] = md5(want);
    return r;
}

async function buckets() {
    await s3.send(new CreateBucketCommand({ Bucket: B }));
    await s3.send(new HeadBucketCommand({ Bucket: B }));
    const l = await s3.send(new ListBucketsCommand({}));
    check(l.Buckets.some((b) => b.Name === B), 'ListBuckets names the bucket', B,
        l.Buckets.map((b) => b.Name));
    await expectError('HeadBucket of a missing bucket',
        () => s3.send(new HeadBucketCommand({ Bucket: `${B}-none` })), 'NotFound', 404);
}

async function uploads() {
    const small = Buffer.from('hello from the JavaScript SDK\n');
    const big = crypto.randomBytes(3 << 20);
    await put('put/string', small.toString(), { ContentType: 'text/plain', Metadata: { colour: 'blue' } }, small);
    await put('put/buffer', big);
    // a stream (its length given: the SDK needs it): aws-chunked, chunked
    // transfer, a CRC32 trailer
    await put('put/stream', Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]),
        { ContentLength: big.length }, big);
    for (const alg of ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'])
        await put(`put/checksum-${alg}`, big, { ChecksumAlgorithm: alg });
    await put('put/empty', Buffer.alloc(0));
    // a checksum that does not match: refused, nothing stored
    await expectError('PutObject with a wrong x-amz-checksum-crc32',
        () => s3.send(new PutObjectCommand({ Bucket: B, Key: 'put/bad-crc', Body: big, ChecksumCRC32: 'AAAAAA==' })),
        'BadDigest', 400);
    await expectError('GetObject of the refused upload',
        () => s3.send(new GetObjectCommand({ Bucket: B, Key: 'put/bad-crc' })), 'NoSuchKey', 404);
    check(seen.some((s) => /^STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked chunked x-amz-checksum-crc32/.test(s)),
        'the SDK streamed a body as aws-chunked with a CRC32 trailer', 'one such PUT', seen.join('; '));
}

async function reads() {
    let [r, b] = await bytesOf('put/string');
    check(b.toString() === 'hello from the JavaScript SDK\n' && r.ContentType === 'text/plain' &&
        r.Metadata.colour === 'blue', 'GetObject: bytes, Content-Type, metadata', 'text/plain, colour=blue',
        `${r.ContentType}, ${JSON.stringify(r.Metadata)}`);
    const whole = (await bytesOf('put/buffer'))[1];
    [r, b] = await bytesOf('put/buffer', { Range: 'bytes=100-199' });
    check(b.equals(whole.subarray(100, 200)) && r.ContentRange === `bytes 100-199/${whole.length}`,
        'GetObject Range', `bytes 100-199/${whole.length}`, r.ContentRange);
    [r, b] = await bytesOf('put/checksum-CRC32', { ChecksumMode: 'ENABLED' });
    check(b.equals(whole), 'GetObject with ChecksumMode ENABLED', 'the bytes', `${b.length} bytes`);
    const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'put/stream' }));
    check(h.ContentLength === whole.length && h.ETag === `"${md5(whole)}"`, 'HeadObject of the streamed upload',
        `${whole.length} ${md5(whole)}`, `${h.ContentLength} ${h.ETag}`);
    // (an empty 304, as S3 sends it: the SDK names that error by nothing)
    await expectError('GetObject If-None-Match its ETag',
        () => s3.send(new GetObjectCommand({ Bucket: B, Key: 'put/buffer', IfNoneMatch: h.ETag })), null, 304);
    await expectError('GetObject of a missing key',
        () => s3.send(new GetObjectCommand({ Bucket: B, Key: 'none' })), 'NoSuchKey', 404);
}

async function multipart() {
    const mp = crypto.randomBytes(12 << 20);
    for (const [key, extra] of [['mpu/plain', {}], ['mpu/crc32', { ChecksumAlgorithm: 'CRC32' }]]) {
        const up = new Upload({ client: s3, params: { Bucket: B, Key: key, Body: Readable.from([mp]), ...extra },
            partSize: 5 << 20, queueSize: 2 });
        const r = await up.done();
        check(/^"[0-9a-f]{32}-3"$/.test(r.ETag), `Upload ${key}: a multipart ETag of 3 parts`, 'md5-3', r.ETag);
        const b = (await bytesOf(key))[1];
        if (check(b.equals(mp), `Upload ${key}: the bytes read back`, md5(mp), md5(b)))
            objects[key] = md5(mp);
    }
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mpu/aborted' }));
    await s3.send(new UploadPartCommand({ Bucket: B, Key: 'mpu/aborted', UploadId, PartNumber: 1, Body: mp.subarray(0, 1000) }));
    const lp = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'mpu/aborted', UploadId }));
    check(lp.Parts.length === 1 && lp.Parts[0].Size === 1000, 'ListParts', '1 part of 1000 bytes', JSON.stringify(lp.Parts));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'mpu/aborted', UploadId }));
    await expectError('ListParts of an aborted upload',
        () => s3.send(new ListPartsCommand({ Bucket: B, Key: 'mpu/aborted', UploadId })), 'NoSuchUpload', 404);
}

async function presigned() {
    const body = crypto.randomBytes(70000);
    const purl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'presigned/obj' }), { expiresIn: 300 });
    let r = await fetch(purl, { method: 'PUT', body });
    check(r.status === 200, 'presigned PUT', 200, r.status);
    const gurl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'presigned/obj' }), { expiresIn: 300 });
    r = await fetch(gurl);
    const got = Buffer.from(await r.arrayBuffer());
    if (check(r.status === 200 && got.equals(body), 'presigned GET', `200 ${md5(body)}`, `${r.status} ${md5(got)}`))
        objects['presigned/obj'] = md5(body);
    r = await fetch(gurl.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'));
    check(r.status === 403, 'presigned GET with a changed signature', 403, r.status);
}

async function listAndDelete() {
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'copy/of-buffer', CopySource: `${B}/put/buffer` }));
    objects['copy/of-buffer'] = objects['put/buffer'];
    let keys = [], token;
    do {
        const l = await s3.send(new ListObjectsV2Command({ Bucket: B, MaxKeys: 4, ContinuationToken: token }));
        keys.push(...(l.Contents || []).map((c) => c.Key));
        token = l.NextContinuationToken;
    } while (token);
    const want = Object.keys(objects).sort();
    check(JSON.stringify(keys) === JSON.stringify(want), 'ListObjectsV2 in pages of 4: every key, in order',
        want.join(' '), keys.join(' '));
    const bad = new S3Client({ endpoint, forcePathStyle: true, region, maxAttempts: 1,
        credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: 'not-the-secret' } });
    await expectError('DeleteObject with a wrong secret',
        () => bad.send(new DeleteObjectCommand({ Bucket: B, Key: 'put/buffer' })), 'SignatureDoesNotMatch', 403);
    const r = await s3.send(new DeleteObjectsCommand({ Bucket: B,
        Delete: { Objects: ['put/empty', 'no/such-key'].map((Key) => ({ Key })) } }));
    check((r.Deleted || []).length === 2 && !(r.Errors || []).length, 'DeleteObjects (one key missing)',
        '2 deleted', JSON.stringify(r));
    delete objects['put/empty'];
}

let fatal = null;
try {
    await buckets();
    await uploads();
    await reads();
    await multipart();
    await presigned();
    await listAndDelete();
} catch (e) {
    fatal = e;
    failures.push(`unexpected error: ${e.name}: ${e.message}`);
}
delete objects['put/empty']; // no bytes to look for on the volumes
console.log(JSON.stringify({ failures, info: { objects, seen } }));
process.exit(fatal ? 2 : 0);
