"""SOAP 1.1 and 1.2 at /soap, with its WSDL."""
