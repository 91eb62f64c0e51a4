// Which socket error codes mean "the peer's TLS certificate did not verify" (against the CA given
// for it, or for its name), as opposed to a peer that could not be reached at all: callers say so,
// because the fix is a certificate or CA, not waiting for the peer to come back.
const CERT_ERRORS = /CERT|SIGNATURE|ALTNAME|ISSUER|SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/;

export function isCertVerifyError(code: string | undefined): boolean {
  return !!code && CERT_ERRORS.test(code);
}
