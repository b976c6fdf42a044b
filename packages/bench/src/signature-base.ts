/**
 * The least work a correct verifier does for the AAuth profile's bare components
 * (`"@method" "@authority" "@path" "signature-key"`, RFC 9421 §2.5): concatenate the signature base
 * and take the signature bytes out of `Signature: sig=:…:`. Used by the limit route, which trusts the
 * shape of requests the generator itself produced; it is not a parser.
 */
export function minimalSignatureBase(
  method: string,
  authority: string,
  url: string,
  signatureKey: string,
  signatureInput: string,
): string {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  // `sig=(…);created=…` → the inner list and its parameters.
  const params = signatureInput.slice(signatureInput.indexOf('=') + 1);
  return (
    `"@method": ${method}\n"@authority": ${authority}\n"@path": ${path}\n` +
    `"signature-key": ${signatureKey}\n"@signature-params": ${params}`
  );
}

/** `sig=:base64:` → the signature bytes. */
export function extractSignatureBytes(signature: string): Buffer {
  const start = signature.indexOf(':');
  return Buffer.from(signature.slice(start + 1, signature.lastIndexOf(':')), 'base64');
}
