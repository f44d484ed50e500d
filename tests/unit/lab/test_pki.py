"""The lab CA signs certificates that TLS clients accept for the lab's addresses only."""

import ipaddress
import stat

from cryptography import x509
from labctl.pki import LabCA


def test_issued_certificate_chains_to_the_ca_and_names_the_address(tmp_path):
    ca = LabCA(tmp_path / "pki")
    ca.create()
    issued = ca.issue("vcenter", ["vcenter.lab.invalid"], ["198.18.0.10"])

    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert_path.read_bytes())
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("198.18.0.10")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_private_keys_are_readable_by_the_owner_only(tmp_path):
    ca = LabCA(tmp_path / "pki")
    ca.create()
    issued = ca.issue("plg", ["plg.lab.invalid"], ["198.18.0.40"])
    for key in (tmp_path / "pki" / "ca-key.pem", issued.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_tls_handshake_validates_against_the_ca_and_fails_without_it(tmp_path):
    import socket
    import ssl
    import threading

    ca = LabCA(tmp_path / "pki")
    ca.create()
    issued = ca.issue("svc", ["svc.lab.invalid"], ["127.0.0.1"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(issued.cert, issued.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve(count):
        for _attempt in range(count):
            conn, _addr = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except ssl.SSLError:
                pass

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    good = ssl.create_default_context(cafile=str(ca.ca_cert_path))
    with socket.create_connection(("127.0.0.1", port)) as raw, good.wrap_socket(raw, server_hostname="127.0.0.1"):
        pass
    other = LabCA(tmp_path / "other")
    other.create()
    bad = ssl.create_default_context(cafile=str(other.ca_cert_path))
    try:
        with socket.create_connection(("127.0.0.1", port)) as raw, bad.wrap_socket(raw, server_hostname="127.0.0.1"):
            raise AssertionError("a certificate of another CA was accepted")
    except ssl.SSLCertVerificationError:
        pass
    thread.join(5)
    listener.close()
