/*
 * IKEv2 wire format: the protocol constants of RFC 7296 (IKEv2) and the extensions this edge
 * speaks with strongSwan: RFC 7383 (fragmentation), RFC 7427 (signature authentication), RFC 5282
 * (AEAD ciphers in IKE), RFC 7634 (ChaCha20-Poly1305), RFC 8031 (Curve25519/448 key exchange),
 * RFC 5685 (redirect), RFC 4555 (MOBIKE). Values are the IANA "IKEv2 Parameters" registry's.
 *
 * The layout of every structure is drawn beside its parser in ike_msg.c; this header only names
 * numbers and sizes. An IKE message on the wire (all integers in network byte order):
 *
 *   +-------------------------+  IKE_HDR_LEN octets, RFC 7296 §3.1
 *   | IKE header              |  next payload = type of payload 1
 *   +-------------------------+
 *   | generic payload header  |  IKE_PAYLOAD_HDR_LEN octets, §3.2: next payload, C bit, length
 *   | payload 1 body          |
 *   +-------------------------+
 *   | ...                     |
 *   +-------------------------+
 *   | SK or SKF payload       |  if present, always last (§3.14, RFC 7383 §2.5): its next payload
 *   | (IV, ciphertext, ICV)   |  field names the first payload inside the ciphertext
 *   +-------------------------+
 *
 * On UDP port 4500 an IKE message is preceded by the 4-octet non-ESP marker (RFC 3948 §2.2); the
 * socket layer strips it, the codec never sees it.
 *
 * Header only: constants, no code.
 */
#ifndef SDWAN_EDGE_IKE_IKE_WIRE_H
#define SDWAN_EDGE_IKE_IKE_WIRE_H

/* Fixed sizes of IKEv2 structures (octets). */
enum ike_wire_len {
	/* RFC 7296 §3.1: an IKE SA SPI (initiator's or responder's). */
	IKE_SPI_LEN = 8,
	/* RFC 7296 §3.1: SPIi, SPIr, next payload, version, exchange, flags, message ID, length. */
	IKE_HDR_LEN = 28,
	/* RFC 7296 §3.2: next payload, C bit + reserved, payload length. */
	IKE_PAYLOAD_HDR_LEN = 4,
	/* RFC 7296 §3.3.1: last substruc, reserved, length, number, protocol, SPI size, count. */
	IKE_PROPOSAL_HDR_LEN = 8,
	/* RFC 7296 §3.3.2: last substruc, reserved, length, type, reserved, transform ID. */
	IKE_TRANSFORM_HDR_LEN = 8,
	/* RFC 7296 §3.3.5: attribute type (with AF bit) and value or length. */
	IKE_ATTR_HDR_LEN = 4,
	/* RFC 7296 §3.4: Diffie-Hellman group number and reserved, before the key data. */
	IKE_KE_HDR_LEN = 4,
	/* RFC 7296 §3.5: ID type and reserved, before the identification data. */
	IKE_ID_HDR_LEN = 4,
	/* RFC 7296 §3.6-§3.7: certificate encoding, before the data. */
	IKE_CERT_HDR_LEN = 1,
	/* RFC 7296 §3.8: auth method and reserved, before the authentication data. */
	IKE_AUTH_HDR_LEN = 4,
	/* RFC 7296 §3.10: protocol ID, SPI size, notify message type, before SPI and data. */
	IKE_NOTIFY_HDR_LEN = 4,
	/* RFC 7296 §3.11: protocol ID, SPI size, number of SPIs, before the SPIs. */
	IKE_DELETE_HDR_LEN = 4,
	/* RFC 7296 §3.13: number of TSs and reserved, before the selectors. */
	IKE_TS_HDR_LEN = 4,
	/* RFC 7296 §3.13.1: TS type, IP protocol, selector length, start port, end port. */
	IKE_TS_SEL_HDR_LEN = 8,
	/* RFC 7296 §3.13.1: a whole TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE selector. */
	IKE_TS_IPV4_LEN = 16,
	IKE_TS_IPV6_LEN = 40,
	/* RFC 7383 §2.5: fragment number and total fragments, before the IV. */
	IKE_SKF_HDR_LEN = 4,
	/* RFC 7296 §2.10, §3.9: nonces are at least 16 and at most 256 octets. */
	IKE_NONCE_MIN = 16,
	IKE_NONCE_MAX = 256,
	/* RFC 7296 §3.7: a CERTREQ's CA value for X.509 is a list of SHA-1 hashes of public keys.
	 */
	IKE_CERTREQ_HASH_LEN = 20,
	/* RFC 7296 §3.13.1: the largest address (IPv6) in a traffic selector. */
	IKE_TS_ADDR_MAX = 16,
	/* The largest payload: the payload length field is 16 bits. */
	IKE_PAYLOAD_MAX = 65535,
};

_Static_assert(IKE_HDR_LEN == 2 * IKE_SPI_LEN + 1 + 1 + 1 + 1 + 4 + 4, "RFC 7296 §3.1 header");
_Static_assert(IKE_PAYLOAD_HDR_LEN == 1 + 1 + 2, "RFC 7296 §3.2 generic payload header");
_Static_assert(IKE_PROPOSAL_HDR_LEN == 1 + 1 + 2 + 1 + 1 + 1 + 1, "RFC 7296 §3.3.1");
_Static_assert(IKE_TRANSFORM_HDR_LEN == 1 + 1 + 2 + 1 + 1 + 2, "RFC 7296 §3.3.2");
_Static_assert(IKE_ATTR_HDR_LEN == 2 + 2, "RFC 7296 §3.3.5");
_Static_assert(IKE_KE_HDR_LEN == 2 + 2, "RFC 7296 §3.4");
_Static_assert(IKE_NOTIFY_HDR_LEN == 1 + 1 + 2, "RFC 7296 §3.10");
_Static_assert(IKE_DELETE_HDR_LEN == 1 + 1 + 2, "RFC 7296 §3.11");
_Static_assert(IKE_TS_SEL_HDR_LEN == 1 + 1 + 2 + 2 + 2, "RFC 7296 §3.13.1");
_Static_assert(IKE_TS_IPV4_LEN == IKE_TS_SEL_HDR_LEN + 2 * 4, "RFC 7296 §3.13.1 IPv4 range");
_Static_assert(IKE_TS_IPV6_LEN == IKE_TS_SEL_HDR_LEN + 2 * 16, "RFC 7296 §3.13.1 IPv6 range");
_Static_assert(IKE_SKF_HDR_LEN == 2 + 2, "RFC 7383 §2.5");

/* RFC 7296 §3.1: the version octet (major version in the high nibble). */
enum ike_version {
	IKE_VERSION_MAJOR = 2,
	IKE_VERSION_MINOR = 0,
};

/* RFC 7296 §3.1: Exchange Type. */
enum ike_exchange {
	IKE_EXCH_IKE_SA_INIT = 34,     /* §1.2 */
	IKE_EXCH_IKE_AUTH = 35,        /* §1.2 */
	IKE_EXCH_CREATE_CHILD_SA = 36, /* §1.3 */
	IKE_EXCH_INFORMATIONAL = 37,   /* §1.4 */
};

/* RFC 7296 §3.1: Flags octet of the IKE header. Other bits MUST be ignored on receipt. */
enum ike_hdr_flag {
	IKE_FLAG_INITIATOR = 0x08, /* I: sent by the original initiator of the IKE SA */
	IKE_FLAG_VERSION = 0x10,   /* V: sender could speak a higher major version; ignored */
	IKE_FLAG_RESPONSE = 0x20,  /* R: this message is a response */
};

/* RFC 7296 §3.2: the C bit in the octet after Next Payload; the other 7 bits are reserved. */
enum ike_payload_flag {
	IKE_PAYLOAD_CRITICAL = 0x80,
};

/* RFC 7296 §3.2 and IANA "IKEv2 Payload Types": the Next Payload values. */
enum ike_payload_type {
	IKE_PAYLOAD_NONE = 0,     /* §3.2: no next payload */
	IKE_PAYLOAD_SA = 33,      /* §3.3 Security Association */
	IKE_PAYLOAD_KE = 34,      /* §3.4 Key Exchange */
	IKE_PAYLOAD_IDI = 35,     /* §3.5 Identification - Initiator */
	IKE_PAYLOAD_IDR = 36,     /* §3.5 Identification - Responder */
	IKE_PAYLOAD_CERT = 37,    /* §3.6 Certificate */
	IKE_PAYLOAD_CERTREQ = 38, /* §3.7 Certificate Request */
	IKE_PAYLOAD_AUTH = 39,    /* §3.8 Authentication */
	IKE_PAYLOAD_NONCE = 40,   /* §3.9 Nonce */
	IKE_PAYLOAD_NOTIFY = 41,  /* §3.10 Notify */
	IKE_PAYLOAD_DELETE = 42,  /* §3.11 Delete */
	IKE_PAYLOAD_VENDOR = 43,  /* §3.12 Vendor ID */
	IKE_PAYLOAD_TSI = 44,     /* §3.13 Traffic Selector - Initiator */
	IKE_PAYLOAD_TSR = 45,     /* §3.13 Traffic Selector - Responder */
	IKE_PAYLOAD_SK = 46,      /* §3.14 Encrypted and Authenticated */
	IKE_PAYLOAD_CP = 47,      /* §3.15 Configuration */
	IKE_PAYLOAD_EAP = 48,     /* §3.16 Extensible Authentication */
	IKE_PAYLOAD_SKF = 53,     /* RFC 7383 §2.5 Encrypted and Authenticated Fragment */
};

/* RFC 7296 §3.3.1: Protocol ID of a proposal (also used by Notify §3.10 and Delete §3.11, where
 * 0 means "no SA"). */
enum ike_proto {
	IKE_PROTO_NONE = 0,
	IKE_PROTO_IKE = 1,
	IKE_PROTO_AH = 2,
	IKE_PROTO_ESP = 3,
};

/* RFC 7296 §3.3.1: SPI sizes a proposal, notify or delete may carry. */
enum ike_spi_size {
	IKE_SPI_SIZE_CHILD = 4, /* AH and ESP */
	IKE_SPI_SIZE_IKE = 8,   /* IKE SA (rekeying, §1.3.2) */
};

/* RFC 7296 §3.3.1-§3.3.2: Last Substruc values of proposals and transforms. */
enum ike_substruc {
	IKE_SUBSTRUC_LAST = 0,
	IKE_SUBSTRUC_MORE_PROPOSALS = 2,
	IKE_SUBSTRUC_MORE_TRANSFORMS = 3,
};

/* RFC 7296 §3.3.2: Transform Type. */
enum ike_transform_type {
	IKE_TRANSFORM_ENCR = 1,  /* Encryption Algorithm */
	IKE_TRANSFORM_PRF = 2,   /* Pseudorandom Function */
	IKE_TRANSFORM_INTEG = 3, /* Integrity Algorithm */
	IKE_TRANSFORM_DH = 4,    /* Diffie-Hellman (Key Exchange Method) group */
	IKE_TRANSFORM_ESN = 5,   /* Extended Sequence Numbers */
};

/* RFC 7296 §3.3.2: Transform Type 1, encryption algorithm IDs. */
enum ike_encr {
	IKE_ENCR_AES_CBC = 12,           /* RFC 3602 */
	IKE_ENCR_AES_CTR = 13,           /* RFC 3686 */
	IKE_ENCR_AES_CCM_16 = 16,        /* RFC 4309, RFC 5282 */
	IKE_ENCR_AES_GCM_8 = 18,         /* RFC 4106, RFC 5282 */
	IKE_ENCR_AES_GCM_12 = 19,        /* RFC 4106, RFC 5282 */
	IKE_ENCR_AES_GCM_16 = 20,        /* RFC 4106, RFC 5282 [aesXXXgcm16] */
	IKE_ENCR_CHACHA20_POLY1305 = 28, /* RFC 7634 [chacha20poly1305] */
};

/* RFC 7296 §3.3.2: Transform Type 2, pseudorandom function IDs. */
enum ike_prf {
	IKE_PRF_HMAC_SHA1 = 2,     /* RFC 2104 */
	IKE_PRF_HMAC_SHA2_256 = 5, /* RFC 4868 [prfsha256] */
	IKE_PRF_HMAC_SHA2_384 = 6, /* RFC 4868 [prfsha384] */
	IKE_PRF_HMAC_SHA2_512 = 7, /* RFC 4868 [prfsha512] */
};

/* RFC 7296 §3.3.2: Transform Type 3, integrity algorithm IDs (NONE with AEAD ciphers). */
enum ike_integ {
	IKE_INTEG_NONE = 0,
	IKE_INTEG_HMAC_SHA1_96 = 2,       /* RFC 2404 */
	IKE_INTEG_HMAC_SHA2_256_128 = 12, /* RFC 4868 */
	IKE_INTEG_HMAC_SHA2_384_192 = 13, /* RFC 4868 */
	IKE_INTEG_HMAC_SHA2_512_256 = 14, /* RFC 4868 */
};

/* RFC 7296 §3.3.2: Transform Type 4, Diffie-Hellman group numbers. */
enum ike_dh {
	IKE_DH_NONE = 0,
	IKE_DH_MODP_2048 = 14,  /* RFC 3526 [modp2048] */
	IKE_DH_MODP_3072 = 15,  /* RFC 3526 [modp3072] */
	IKE_DH_MODP_4096 = 16,  /* RFC 3526 [modp4096] */
	IKE_DH_ECP_256 = 19,    /* RFC 5903 [ecp256] */
	IKE_DH_ECP_384 = 20,    /* RFC 5903 [ecp384] */
	IKE_DH_ECP_521 = 21,    /* RFC 5903 [ecp521] */
	IKE_DH_CURVE25519 = 31, /* RFC 8031 [x25519] */
	IKE_DH_CURVE448 = 32,   /* RFC 8031 [x448] */
};

/* RFC 7296 §3.3.2: Transform Type 5, Extended Sequence Numbers. */
enum ike_esn {
	IKE_ESN_NO = 0,
	IKE_ESN_YES = 1,
};

/* RFC 7296 §3.3.5: transform attributes. The AF bit selects TV (value in the header) over TLV. */
enum ike_attr {
	IKE_ATTR_AF = 0x8000,
	IKE_ATTR_KEY_LENGTH = 14, /* TV, in bits */
};

/* RFC 7296 §3.5: ID Type. */
enum ike_id_type {
	IKE_ID_IPV4_ADDR = 1,
	IKE_ID_FQDN = 2,
	IKE_ID_RFC822_ADDR = 3,
	IKE_ID_IPV6_ADDR = 5,
	IKE_ID_DER_ASN1_DN = 9,
	IKE_ID_DER_ASN1_GN = 10,
	IKE_ID_KEY_ID = 11,
};

/* RFC 7296 §3.6: Certificate Encoding (CERT and CERTREQ payloads). */
enum ike_cert_encoding {
	IKE_CERT_PKCS7_X509 = 1,
	IKE_CERT_X509_SIGNATURE = 4,
	IKE_CERT_CRL = 7,
	IKE_CERT_HASH_URL_X509 = 12,
	IKE_CERT_HASH_URL_BUNDLE = 13,
	IKE_CERT_RAW_PUBLIC_KEY = 15, /* RFC 7670 */
};

/* RFC 7296 §3.8: Auth Method. */
enum ike_auth_method {
	IKE_AUTH_RSA_SIG = 1,           /* §3.8 RSASSA-PKCS1-v1_5 with SHA-1 */
	IKE_AUTH_SHARED_KEY_MIC = 2,    /* §3.8 PSK */
	IKE_AUTH_DSS_SIG = 3,           /* §3.8 */
	IKE_AUTH_ECDSA_SHA256_P256 = 9, /* RFC 4754 */
	IKE_AUTH_ECDSA_SHA384_P384 = 10,
	IKE_AUTH_ECDSA_SHA512_P521 = 11,
	IKE_AUTH_NULL = 13,              /* RFC 7619 */
	IKE_AUTH_DIGITAL_SIGNATURE = 14, /* RFC 7427 §3: ASN.1 AlgorithmIdentifier + signature */
};

/* RFC 7427 §4: hash algorithms listed in SIGNATURE_HASH_ALGORITHMS (2 octets each). */
enum ike_hash {
	IKE_HASH_SHA1 = 1,
	IKE_HASH_SHA2_256 = 2,
	IKE_HASH_SHA2_384 = 3,
	IKE_HASH_SHA2_512 = 4,
	IKE_HASH_IDENTITY = 5, /* RFC 8420, for Ed25519/Ed448 */
};

/* RFC 7296 §3.10.1: Notify Message Types. Below IKE_NOTIFY_STATUS_MIN they are errors. */
enum ike_notify_type {
	/* errors */
	IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD = 1, /* data: the one-octet payload type */
	IKE_N_INVALID_IKE_SPI = 4,
	IKE_N_INVALID_MAJOR_VERSION = 5,
	IKE_N_INVALID_SYNTAX = 7,
	IKE_N_INVALID_MESSAGE_ID = 9,
	IKE_N_INVALID_SPI = 11,
	IKE_N_NO_PROPOSAL_CHOSEN = 14,
	IKE_N_INVALID_KE_PAYLOAD = 17, /* data: the 2-octet accepted DH group */
	IKE_N_AUTHENTICATION_FAILED = 24,
	IKE_N_SINGLE_PAIR_REQUIRED = 34,
	IKE_N_NO_ADDITIONAL_SAS = 35,
	IKE_N_INTERNAL_ADDRESS_FAILURE = 36,
	IKE_N_FAILED_CP_REQUIRED = 37,
	IKE_N_TS_UNACCEPTABLE = 38,
	IKE_N_INVALID_SELECTORS = 39,
	IKE_N_TEMPORARY_FAILURE = 43,
	IKE_N_CHILD_SA_NOT_FOUND = 44,
	/* status */
	IKE_NOTIFY_STATUS_MIN = 16384,
	IKE_N_INITIAL_CONTACT = 16384,
	IKE_N_SET_WINDOW_SIZE = 16385,
	IKE_N_ADDITIONAL_TS_POSSIBLE = 16386,
	IKE_N_IPCOMP_SUPPORTED = 16387,
	IKE_N_NAT_DETECTION_SOURCE_IP = 16388,      /* §2.23: SHA-1(SPIs | IP | port) */
	IKE_N_NAT_DETECTION_DESTINATION_IP = 16389, /* §2.23 */
	IKE_N_COOKIE = 16390,                       /* §2.6: 1-64 octets */
	IKE_N_USE_TRANSPORT_MODE = 16391,
	IKE_N_HTTP_CERT_LOOKUP_SUPPORTED = 16392,
	IKE_N_REKEY_SA = 16393, /* §1.3.3: SPI of the Child SA being rekeyed */
	IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
	IKE_N_NON_FIRST_FRAGMENTS_ALSO = 16395,
	IKE_N_MOBIKE_SUPPORTED = 16396,          /* RFC 4555 */
	IKE_N_REDIRECT_SUPPORTED = 16406,        /* RFC 5685 */
	IKE_N_FRAGMENTATION_SUPPORTED = 16430,   /* RFC 7383 §2.3 (IKEV2_FRAGMENTATION_...) */
	IKE_N_SIGNATURE_HASH_ALGORITHMS = 16431, /* RFC 7427 §4 */
};

/* RFC 7296 §3.13.1: TS Type. */
enum ike_ts_type {
	IKE_TS_IPV4_ADDR_RANGE = 7,
	IKE_TS_IPV6_ADDR_RANGE = 8,
};

/* RFC 7296 §3.13.1: start port 65535 with end port 0 means OPAQUE ports. */
enum ike_ts_port {
	IKE_TS_PORT_OPAQUE_START = 65535,
	IKE_TS_PORT_OPAQUE_END = 0,
};

#endif
