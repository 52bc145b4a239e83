"""Messaging provider adapters: Twilio, Meta WhatsApp Cloud API and SendGrid."""
