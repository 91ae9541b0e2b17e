// Passkeys: registration on the passkeys page and the second step of sign-in.
// The server does the checking; this only carries the WebAuthn messages.
(function () {
  "use strict";
  function b64u(buf) {
    var s = "", b = new Uint8Array(buf);
    for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function creationOptions(o) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) { return PublicKeyCredential.parseCreationOptionsFromJSON(o); }
    o.challenge = unb64u(o.challenge);
    o.user.id = unb64u(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
    return o;
  }
  function requestOptions(o) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) { return PublicKeyCredential.parseRequestOptionsFromJSON(o); }
    o.challenge = unb64u(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
    return o;
  }
  function credJSON(c) {
    if (c.toJSON) { return c.toJSON(); }
    var r = c.response, out = { id: c.id, rawId: b64u(c.rawId), type: c.type, clientExtensionResults: {}, response: { clientDataJSON: b64u(r.clientDataJSON) } };
    if (r.attestationObject) { out.response.attestationObject = b64u(r.attestationObject); out.response.transports = r.getTransports ? r.getTransports() : []; }
    if (r.authenticatorData) { out.response.authenticatorData = b64u(r.authenticatorData); out.response.signature = b64u(r.signature); out.response.userHandle = r.userHandle ? b64u(r.userHandle) : null; }
    return out;
  }
  function post(url, csrf, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) { var e = new Error(j.message || "Something went wrong."); e.code = j.error; throw e; } return j; }); });
  }

  var add = document.getElementById("passkey-add");
  if (add) {
    var status = document.getElementById("passkey-status");
    document.getElementById("passkey-add-button").addEventListener("click", function () {
      var csrf = add.getAttribute("data-csrf");
      status.textContent = "Follow your device's instructions…";
      post("/api/v1/account/passkeys/begin", csrf, {}).then(function (c) {
        return navigator.credentials.create({ publicKey: creationOptions(c.options.publicKey) }).then(function (cred) {
          return post("/api/v1/account/passkeys/finish", csrf, { ceremony: c.ceremony, name: document.getElementById("passkey-name").value, credential: credJSON(cred) });
        });
      }).then(function (done) {
        if (done.recovery_codes && done.recovery_codes.length) {
          status.textContent = "Passkey added. Save these recovery codes now; they are shown only once: " + done.recovery_codes.join("  ");
          return;
        }
        window.location.assign(done.redirect || "/account/passkeys");
      }).catch(function (e) {
        if (e.code === "step_up_required") { window.location.assign("/account/confirm?next=/account/passkeys"); return; }
        status.textContent = e.name === "NotAllowedError" ? "No passkey was added." : e.message;
      });
    });
  }

  var signin = document.getElementById("passkey-signin");
  if (signin) {
    var sstatus = document.getElementById("passkey-signin-status");
    signin.hidden = false;
    signin.querySelector("button").addEventListener("click", function () {
      var csrf = signin.getAttribute("data-csrf");
      post("/api/v1/auth/passkey/begin", csrf, {}).then(function (c) {
        return navigator.credentials.get({ publicKey: requestOptions(c.options.publicKey) }).then(function (cred) {
          return post("/api/v1/auth/passkey/finish", csrf, { ceremony: c.ceremony, credential: credJSON(cred) });
        });
      }).then(function (done) { window.location.assign(done.redirect || "/"); })
        .catch(function (e) { sstatus.textContent = e.name === "NotAllowedError" ? "The passkey was not used." : e.message; });
    });
  }
})();
