/*
 * ESP wire format: constants of RFC 4303 (ESP), RFC 3948 (ESP in UDP), RFC 4106 (AES-GCM in ESP)
 * and RFC 7634 (ChaCha20-Poly1305 in ESP), as used by this data plane: tunnel mode, AEAD only,
 * 8-byte explicit IV, 16-byte ICV.
 *
 * A tunnel-mode ESP packet in UDP, as it leaves the edge (all fields network byte order):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          outer IPv4 or IPv6 header (protocol 17, UDP)         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |       Source Port (4500)      |    Destination Port (4500)    | RFC 3948 §2.1
 *   |           Length              |  Checksum (0 over IPv4, §2.1) |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+ ---- ESP starts here
 *   |               Security Parameters Index (SPI)                 | ^      ^
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | AAD  | ESP_HDR_LEN
 *   |            Sequence Number (low 32 bits with ESN)             | v      v
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
 *   |                  IV (8 octets: the 64-bit                     |  ESP_IV_LEN
 *   +                  sequence number, here)                       +
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
 *   |           inner IPv4/IPv6 packet (variable)                   | ^ encrypted
 *   ~                                                               ~ |
 *   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
 *   |               |  Padding 1, 2, 3, ... (0-255 octets)          | |
 *   +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
 *   |                               |  Pad Length   | Next Header   | v  (4-octet aligned)
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
 *   |                    ICV (16 octets, the AEAD tag)              |  ESP_ICV_LEN
 *   ~                                                               ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * AEAD inputs (RFC 4106 §4-§5, RFC 7634 §2-§2.1):
 *   nonce = salt (4 octets, from KEYMAT) || IV (8 octets)
 *   AAD   = SPI || seq             without ESN (8 octets)
 *   AAD   = SPI || seq_hi || seq_lo  with ESN  (12 octets; seq_hi is never sent)
 *
 * On UDP port 4500 the same socket also carries IKE and NAT keepalives; the first octets tell
 * them apart (RFC 3948 §2.2-§2.3): one octet 0xFF is a keepalive, four zero octets (the non-ESP
 * marker, a value no ESP SPI may take) precede an IKE message, anything else is ESP.
 *
 * Header only: constants, no code. Parsers read these fields through common/rd.h.
 */
#ifndef SDWAN_EDGE_ESP_ESP_WIRE_H
#define SDWAN_EDGE_ESP_ESP_WIRE_H

/* ESP header and trailer sizes (octets). */
enum esp_wire_len {
	/* RFC 4303 §2.1: Security Parameters Index. */
	ESP_SPI_LEN = 4,
	/* RFC 4303 §2.2: Sequence Number (the low 32 bits when ESN is in use, §2.2.1). */
	ESP_SEQ_LEN = 4,
	/* RFC 4303 §2: SPI + Sequence Number, the part sent in the clear. */
	ESP_HDR_LEN = 8,
	/* RFC 4106 §3.1, RFC 7634 §2: the explicit per-packet IV of both AEADs. */
	ESP_IV_LEN = 8,
	/* RFC 4106 §4, RFC 7634 §2: salt taken from the end of KEYMAT, never sent. */
	ESP_SALT_LEN = 4,
	/* RFC 4106 §4, RFC 7634 §2: nonce = salt || IV. */
	ESP_NONCE_LEN = 12,
	/* RFC 4106 §5, RFC 7634 §2.1: AAD without and with Extended Sequence Numbers. */
	ESP_AAD_LEN = 8,
	ESP_AAD_ESN_LEN = 12,
	/* RFC 4106 §6 (AES-GCM with 16-octet ICV), RFC 7634 §2: the full 128-bit tag. */
	ESP_ICV_LEN = 16,
	/* RFC 4303 §2.5-§2.6: Pad Length and Next Header octets. */
	ESP_TRAILER_LEN = 2,
	/* RFC 4303 §2.4: the ciphertext (padding, pad length, next header included) ends on a
	 * 4-octet boundary; the AEADs here need no further block alignment. */
	ESP_PAD_ALIGN = 4,
	/* RFC 4303 §2.4: at most 255 padding octets. */
	ESP_PAD_MAX = 255,
	/* The most padding this implementation sends: just enough to reach ESP_PAD_ALIGN. */
	ESP_PAD_SENT_MAX = ESP_PAD_ALIGN - 1,
	/* RFC 4303 §2.1: SPIs 1-255 are reserved by IANA and 0 is never sent. */
	ESP_SPI_MIN = 256,
};

/* Room an encapsulator needs around the inner packet. */
enum esp_wire_room {
	/* Before the inner packet: SPI, sequence number, IV. */
	ESP_HEADROOM = ESP_HDR_LEN + ESP_IV_LEN,
	/* After the inner packet, at most: padding, pad length, next header, ICV. */
	ESP_TAILROOM = ESP_PAD_SENT_MAX + ESP_TRAILER_LEN + ESP_ICV_LEN,
	/* The shortest well-formed ESP packet: empty inner packet padded to 4 octets (the
	 * trailer plus two padding octets), with header, IV and ICV. */
	ESP_PACKET_MIN = ESP_HDR_LEN + ESP_IV_LEN + ESP_PAD_ALIGN + ESP_ICV_LEN,
	/* The longest packet handled: an IP datagram's maximum; keeps every length an int for
	 * OpenSSL. */
	ESP_PACKET_MAX = 65535,
	/* The longest inner packet an encapsulator takes, so its ESP packet fits ESP_PACKET_MAX. */
	ESP_INNER_MAX = ESP_PACKET_MAX - ESP_HEADROOM - ESP_TAILROOM,
};

/* RFC 4303 §2.6: values of the Next Header field this tunnel-mode data plane knows (IANA
 * protocol numbers). */
enum esp_next_header {
	ESP_NH_IPV4 = 4,  /* an IPv4 packet (tunnel mode) */
	ESP_NH_IPV6 = 41, /* an IPv6 packet (tunnel mode) */
	ESP_NH_NONE = 59, /* "no next header": a dummy packet, dropped on receipt (§2.6, §2.7) */
};

/* RFC 3948 (UDP encapsulation of ESP) and RFC 7296 §2.23 (NAT traversal). */
enum esp_udp {
	/* RFC 3948 §2, RFC 7296 §2.23: IKE and UDP-encapsulated ESP share this port. */
	ESP_UDP_PORT = 4500,
	/* RFC 768: the UDP header in front of the ESP header. */
	ESP_UDP_HDR_LEN = 8,
	/* RFC 3948 §2.2: four zero octets in front of an IKE message on port 4500. */
	ESP_NON_ESP_MARKER_LEN = 4,
	/* RFC 3948 §2.3: a NAT-keepalive is a single octet of this value. */
	ESP_NATT_KEEPALIVE = 0xFF,
	ESP_NATT_KEEPALIVE_LEN = 1,
};

_Static_assert(ESP_HDR_LEN == ESP_SPI_LEN + ESP_SEQ_LEN, "ESP header is SPI + sequence number");
_Static_assert(ESP_NONCE_LEN == ESP_SALT_LEN + ESP_IV_LEN, "nonce is salt || IV");
_Static_assert(ESP_AAD_LEN == ESP_SPI_LEN + ESP_SEQ_LEN, "AAD is SPI || seq");
_Static_assert(ESP_AAD_ESN_LEN == ESP_SPI_LEN + 2 * ESP_SEQ_LEN, "ESN AAD is SPI || hi || lo");
_Static_assert(ESP_HEADROOM == 16, "header + IV");
_Static_assert(ESP_TAILROOM == 21, "3 padding + pad length + next header + 16 ICV");
_Static_assert(ESP_PACKET_MIN == 36, "8 + 8 + 4 + 16");
_Static_assert((ESP_HDR_LEN + ESP_IV_LEN) % ESP_PAD_ALIGN == 0,
	       "ciphertext alignment equals payload alignment");
_Static_assert((int)ESP_NON_ESP_MARKER_LEN == (int)ESP_SPI_LEN, "marker overlays the SPI field");
_Static_assert(ESP_PAD_SENT_MAX <= ESP_PAD_MAX, "padding fits its length field");

#endif
