"""SMS providers behind one interface, chosen by ``SAMAD_SMS_PROVIDER``: file, smpp, kavenegar."""
