//! AWS IoT's exceptions as the registries and the data plane answer them: [`AwsError`],
//! with the exception name and HTTP status the HTTP APIs send.

/// AWS IoT's exceptions, as the admin API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// 400.
    InvalidRequest,
    /// 404.
    ResourceNotFound,
    /// 409, with the existing resource's id and ARN.
    ResourceAlreadyExists {
        /// Existing id (certificate id, thing name, ...).
        resource_id: String,
        /// Existing ARN.
        resource_arn: String,
    },
    /// 400: a certificate that does not validate.
    CertificateValidation,
    /// 406: an operation not allowed in the certificate's state.
    CertificateState,
    /// 409: still attached or in use.
    DeleteConflict,
    /// 400: a policy document that does not parse.
    MalformedPolicy,
    /// 409: the thing's version is not the `expectedVersion` of the request.
    VersionConflict,
    /// 403: the request's SigV4 credential scope names another region or service.
    InvalidSignature,
    /// 403: an `Authorization` header that is not SigV4 (no `Credential=` scope).
    IncompleteSignature,
    /// 500: the broker failed (e.g. could not make a key); the request was fine.
    InternalFailure,
    /// 409 (data plane): a shadow update's `version` is not the stored one.
    Conflict,
    /// 413 (data plane): a payload or a merged shadow document over its size limit.
    RequestEntityTooLarge,
    /// 415 (data plane): a shadow document that is not UTF-8.
    UnsupportedDocumentEncoding,
    /// 503 (data plane): the broker behind the API has shut down.
    ServiceUnavailable,
}

/// An AWS-style error: exception name, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.name())]
pub struct AwsError {
    /// Which exception.
    pub kind: AwsErrorKind,
    /// What went wrong.
    pub message: String,
}

impl AwsError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: AwsErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            kind,
            message: message.into(),
        }
    }

    /// AWS's exception name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            AwsErrorKind::InvalidRequest => "InvalidRequestException",
            AwsErrorKind::ResourceNotFound => "ResourceNotFoundException",
            AwsErrorKind::ResourceAlreadyExists { .. } => "ResourceAlreadyExistsException",
            AwsErrorKind::CertificateValidation => "CertificateValidationException",
            AwsErrorKind::CertificateState => "CertificateStateException",
            AwsErrorKind::DeleteConflict => "DeleteConflictException",
            AwsErrorKind::MalformedPolicy => "MalformedPolicyException",
            AwsErrorKind::VersionConflict => "VersionConflictException",
            AwsErrorKind::InvalidSignature => "InvalidSignatureException",
            AwsErrorKind::IncompleteSignature => "IncompleteSignatureException",
            AwsErrorKind::InternalFailure => "InternalFailureException",
            AwsErrorKind::Conflict => "ConflictException",
            AwsErrorKind::RequestEntityTooLarge => "RequestEntityTooLargeException",
            AwsErrorKind::UnsupportedDocumentEncoding => "UnsupportedDocumentEncodingException",
            AwsErrorKind::ServiceUnavailable => "ServiceUnavailableException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            AwsErrorKind::InvalidRequest
            | AwsErrorKind::CertificateValidation
            | AwsErrorKind::MalformedPolicy => 400,
            AwsErrorKind::ResourceNotFound => 404,
            AwsErrorKind::ResourceAlreadyExists { .. }
            | AwsErrorKind::DeleteConflict
            | AwsErrorKind::VersionConflict
            | AwsErrorKind::Conflict => 409,
            AwsErrorKind::RequestEntityTooLarge => 413,
            AwsErrorKind::UnsupportedDocumentEncoding => 415,
            AwsErrorKind::ServiceUnavailable => 503,
            AwsErrorKind::CertificateState => 406,
            AwsErrorKind::InvalidSignature | AwsErrorKind::IncompleteSignature => 403,
            AwsErrorKind::InternalFailure => 500,
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::InvalidRequest, message)
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::ResourceNotFound, message)
}

pub(crate) fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::CertificateValidation, message)
}
