// Package passkeytest is a software WebAuthn authenticator and client for
// tests that have no browser. It answers the options the passkey service
// hands out with the JSON a browser would post back
// (PublicKeyCredential.toJSON()): a "none" attestation for registration and
// an ECDSA P-256 (ES256) assertion for sign-in.
//
// It does what it is told rather than what the options ask, so tests can
// check that the server refuses: with UV false it leaves the user-verified
// flag clear even when the options require verification; Origin may be
// set to a site the portal does not serve; Clone copies keys and counters
// the way a cloned authenticator would.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// coseES256 is the COSE algorithm identifier of ECDSA P-256 with SHA-256.
const coseES256 = -7

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	// SignCount is the last counter value used. Set it to replay an old one.
	SignCount uint32
}

// Authenticator is a software passkey provider together with the browser in
// front of it. Change its fields between calls to change how it answers. It
// is safe for concurrent use.
type Authenticator struct {
	mu sync.Mutex
	// Origin is the page origin the "browser" reports in clientDataJSON.
	Origin string
	// UV reports user verification (PIN or biometric) done.
	UV bool
	// BackupEligible and BackupState are the BE and BS flags, as a synced
	// passkey provider sets them.
	BackupEligible, BackupState bool
	// NoCounter keeps the signature counter at zero, as synced passkey
	// providers do.
	NoCounter bool
	// AAGUID names the authenticator model; zero by default.
	AAGUID [16]byte

	creds []*Credential
}

// New returns an authenticator that verifies its user, behind a browser at
// origin.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UV: true}
}

// Clone returns an independent authenticator with copies of the same keys
// and counters, as someone who extracted the keys would have.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &Authenticator{Origin: a.Origin, UV: a.UV, BackupEligible: a.BackupEligible, BackupState: a.BackupState,
		NoCounter: a.NoCounter, AAGUID: a.AAGUID}
	for _, cr := range a.creds {
		cp := *cr
		c.creds = append(c.creds, &cp)
	}
	return c
}

// Credentials returns the credentials the authenticator holds, oldest
// first. Tests may change their SignCount.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

var b64 = base64.RawURLEncoding

// creationOptions is the part of PublicKeyCredentialCreationOptionsJSON the
// authenticator reads.
type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge string `json:"challenge"`
	Params    []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	Exclude []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	Allow     []struct {
		ID string `json:"id"`
	} `json:"allowCredentials"`
}

// unwrap accepts the options with or without the {"publicKey": …} wrapper.
func unwrap(options []byte, v any) error {
	var w struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &w); err != nil {
		return fmt.Errorf("passkeytest: options: %w", err)
	}
	if len(w.PublicKey) > 0 {
		options = w.PublicKey
	}
	if err := json.Unmarshal(options, v); err != nil {
		return fmt.Errorf("passkeytest: options: %w", err)
	}
	return nil
}

// Create answers navigator.credentials.create: it makes a new ES256 key pair
// for the options' relying party and user, and returns the registration
// response JSON.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	if o.RP.ID == "" || o.Challenge == "" {
		return nil, errors.New("passkeytest: creation options lack rp.id or challenge")
	}
	es256 := false
	for _, p := range o.Params {
		es256 = es256 || (p.Type == "public-key" && p.Alg == coseES256)
	}
	if !es256 {
		return nil, errors.New("passkeytest: the options do not accept ES256")
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil || len(handle) == 0 || len(handle) > 64 {
		return nil, errors.New("passkeytest: user.id is not a base64url user handle of 1 to 64 bytes")
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.Exclude {
		id, _ := b64.DecodeString(ex.ID)
		for _, c := range a.creds {
			if c.RPID == o.RP.ID && bytes.Equal(c.ID, id) {
				return nil, errors.New("passkeytest: InvalidStateError: this authenticator already holds an excluded credential")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cred := &Credential{ID: make([]byte, 32), Key: key, RPID: o.RP.ID, UserHandle: handle}
	rand.Read(cred.ID)
	// A discoverable credential replaces the one already held for the same
	// account at this site.
	kept := a.creds[:0]
	for _, c := range a.creds {
		if !(c.RPID == cred.RPID && bytes.Equal(c.UserHandle, handle)) {
			kept = append(kept, c)
		}
	}
	a.creds = append(kept, cred)

	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	authData := a.authData(o.RP.ID, flagAT, 0)
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(cred.ID)))
	authData = append(authData, a.AAGUID[:]...)
	authData = append(authData, n[:]...)
	authData = append(authData, cred.ID...)
	authData = append(authData, cose...)

	attObj, err := webauthncbor.Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": authData,
	})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(cred.ID),
		"rawId":                   b64.EncodeToString(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":     b64.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
			"attestationObject":  b64.EncodeToString(attObj),
			"authenticatorData":  b64.EncodeToString(authData),
			"publicKey":          b64.EncodeToString(spki),
			"publicKeyAlgorithm": coseES256,
			"transports":         []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Get answers navigator.credentials.get: it signs with the newest
// credential for the options' relying party (one listed in allowCredentials,
// if the options list any) and returns the assertion response JSON.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	if o.RPID == "" || o.Challenge == "" {
		return nil, errors.New("passkeytest: request options lack rpId or challenge")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var cred *Credential
	for i := len(a.creds) - 1; i >= 0 && cred == nil; i-- {
		c := a.creds[i]
		if c.RPID != o.RPID {
			continue
		}
		if len(o.Allow) == 0 {
			cred = c
		}
		for _, al := range o.Allow {
			if id, _ := b64.DecodeString(al.ID); bytes.Equal(id, c.ID) {
				cred = c
			}
		}
	}
	if cred == nil {
		return nil, errors.New("passkeytest: NotAllowedError: no credential for this site")
	}
	if !a.NoCounter {
		cred.SignCount++
	}
	authData := a.authData(o.RPID, 0, cred.SignCount)
	clientData := a.clientData("webauthn.get", o.Challenge)
	cdh := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(cred.ID),
		"rawId":                   b64.EncodeToString(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// authData is rpIdHash, flags and the counter (WebAuthn §6.1).
func (a *Authenticator) authData(rpID string, extra byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(flagUP) | extra
	if a.UV {
		flags |= flagUV
	}
	if a.BackupEligible {
		flags |= flagBE
	}
	if a.BackupState {
		flags |= flagBS
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, a.Origin, false})
	return b
}

// coseKey encodes an EC2 P-256 public key as a COSE_Key (RFC 9053), in the
// canonical CBOR the spec's examples use: {1: 2, 3: -7, -1: 1, -2: x, -3: y}.
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	raw, err := pub.Bytes() // 0x04 || x || y
	if err != nil {
		return nil, err
	}
	if len(raw) != 65 || raw[0] != 4 {
		return nil, errors.New("passkeytest: unexpected P-256 point encoding")
	}
	out := []byte{
		0xa5,       // map(5)
		0x01, 0x02, // kty: EC2
		0x03, 0x26, // alg: ES256 (-7)
		0x20, 0x01, // crv: P-256
		0x21, 0x58, 0x20, // x: bytes(32)
	}
	out = append(out, raw[1:33]...)
	out = append(out, 0x22, 0x58, 0x20) // y: bytes(32)
	return append(out, raw[33:]...), nil
}
