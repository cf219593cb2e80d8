/**
 * COS error responses: an exception the handlers throw, and the XML body COS
 * sends for it (`<Error><Code/><Message/><Resource/><RequestId/><TraceId/>`).
 */

import { element, xmlDocument } from "./xml.ts";

/** A COS service error; thrown by handlers, turned into an XML reply. */
export class CosApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Content-Range on a 416. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "CosApiError";
  }
}

/** The error XML body COS returns. */
export function errorXml(error: CosApiError, resource: string, requestId: string): string {
  return xmlDocument(element("Error", [
    element("Code", error.code),
    element("Message", error.message),
    element("Resource", resource),
    element("RequestId", requestId),
    element("TraceId", requestId),
  ]));
}

/** The default code COS uses for an injected 5xx status. */
export function codeForStatus(status: number): string {
  if (status === 503) return "ServiceUnavailable";
  if (status === 504) return "GatewayTimeout";
  return "InternalError";
}

/** Constructors for the errors the handlers raise, with COS's codes. */
export const cosErrors = {
  accessDenied: (message = "Access Denied.") => new CosApiError(403, "AccessDenied", message),
  invalidAccessKeyId: () =>
    new CosApiError(403, "InvalidAccessKeyId", "The access key Id you provided does not exist."),
  signatureDoesNotMatch: () =>
    new CosApiError(
      403,
      "SignatureDoesNotMatch",
      "The Signature you specified is invalid.",
    ),
  noSuchBucket: () => new CosApiError(404, "NoSuchBucket", "The specified bucket does not exist."),
  noSuchKey: () => new CosApiError(404, "NoSuchKey", "The specified key does not exist."),
  noSuchUpload: () =>
    new CosApiError(404, "NoSuchUpload", "The specified multipart upload does not exist."),
  invalidPart: (message = "One or more of the specified parts could not be found.") =>
    new CosApiError(400, "InvalidPart", message),
  invalidPartOrder: () =>
    new CosApiError(400, "InvalidPartOrder", "The list of parts was not in ascending order."),
  entityTooSmall: () =>
    new CosApiError(
      400,
      "EntityTooSmall",
      "Your proposed upload is smaller than the minimum allowed object size.",
    ),
  entityTooLarge: (message: string) => new CosApiError(400, "EntityTooLarge", message),
  invalidArgument: (message: string) => new CosApiError(400, "InvalidArgument", message),
  invalidObjectState: () =>
    new CosApiError(
      403,
      "InvalidObjectState",
      "The operation is not valid for the object's storage class.",
    ),
  preconditionFailed: () =>
    new CosApiError(412, "PreconditionFailed", "The precondition given in the request failed."),
  invalidRange: (size: number) =>
    new CosApiError(416, "InvalidRange", "The requested range is not satisfiable.", {
      "content-range": `bytes */${size}`,
    }),
  malformedXml: () =>
    new CosApiError(400, "MalformedXML", "The XML you provided was not well-formed."),
  badDigest: () =>
    new CosApiError(400, "BadDigest", "The Content-MD5 you specified did not match."),
  notImplemented: () =>
    new CosApiError(501, "NotImplemented", "This request is not supported by the emulator."),
};
