# This file is part of HiTech CRM. See LICENSE for details.
"""Reading customer emails for the service desk, without the ORM.

``parse_email`` turns the raw bytes of an email into a ``ParsedEmail`` or
raises ``MailRejected`` with a reason code; nothing in here writes to the
database, so a rejected email never leaves a partial ticket behind.
"""
import email
import email.policy
import html.parser
import re
import unicodedata
from dataclasses import dataclass, field
from email.utils import getaddresses, make_msgid, parseaddr

MESSAGE_ID_RE = re.compile(r'<[^<>\s]+>')
SUBJECT_MAX = 250
FILENAME_MAX = 200
# control characters except tab and newlines
_CONTROL_RE = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


class MailRejected(Exception):
    "The email cannot become a ticket message"

    def __init__(self, reason, **params):
        super().__init__(reason)
        self.reason = reason
        self.params = params


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedEmail:
    sender: str = ''
    sender_name: str = ''
    to: list = field(default_factory=list)
    subject: str = ''
    text: str = ''
    message_id: str = ''
    in_reply_to: str = ''
    references: list = field(default_factory=list)
    attachments: list = field(default_factory=list)

    @property
    def thread_ids(self):
        "Message-IDs this email answers, the closest first"
        ids = []
        if self.in_reply_to:
            ids.append(self.in_reply_to)
        ids.extend(reversed(self.references))
        return list(dict.fromkeys(ids))


class _TextExtractor(html.parser.HTMLParser):
    "Keep the text of an HTML body; drop scripts, styles and tags"
    _skip = {'script', 'style', 'head', 'title'}
    _breaks = {'br', 'p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._skip:
            self._skipping += 1
        elif tag in self._breaks:
            self.parts.append('\n')

    def handle_endtag(self, tag):
        if tag in self._skip and self._skipping:
            self._skipping -= 1
        elif tag in self._breaks:
            self.parts.append('\n')

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def html_to_text(value):
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    text = ''.join(parser.parts)
    return re.sub(r'\n\s*\n+', '\n\n', text).strip()


def clean_text(value, max_length=None):
    "Return value as plain text without control characters"
    value = unicodedata.normalize('NFC', str(value or ''))
    value = _CONTROL_RE.sub('', value)
    if max_length is not None:
        value = ' '.join(value.split())[:max_length]
    return value


def _header(message, name):
    "Read a header; malformed headers read as empty"
    try:
        value = message.get(name)
    except Exception:
        return ''
    return '' if value is None else str(value)


def _message_ids(value):
    return MESSAGE_ID_RE.findall(value or '')


def _part_text(part):
    try:
        return part.get_content()
    except Exception:
        payload = part.get_payload(decode=True) or b''
        return payload.decode('utf-8', 'replace')


def _filename(part, index):
    try:
        name = part.get_filename()
    except Exception:
        name = None
    name = clean_text(name or '', FILENAME_MAX).replace('/', '_').replace(
        '\\', '_').strip('. ')
    return name or 'attachment-%d' % index


def parse_email(data, max_size=None, max_attachment_size=None):
    """Parse the raw bytes of an email.

    Raise MailRejected('too_large'), ('attachment_too_large'),
    ('malformed') or ('empty')."""
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogateescape')
    if not data:
        raise MailRejected('empty')
    if max_size and len(data) > max_size:
        raise MailRejected('too_large', size=len(data), limit=max_size)
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
    except Exception as exception:
        raise MailRejected('malformed', error=str(exception)[:200])
    if not message.keys():
        raise MailRejected('malformed', error="no header")

    parsed = ParsedEmail()
    name, address = parseaddr(_header(message, 'From'))
    if address and '@' in address:
        parsed.sender = address.strip().lower()
        parsed.sender_name = clean_text(name, SUBJECT_MAX)
    try:
        parsed.to = [a.lower() for _, a in getaddresses(
                    [_header(message, 'To'), _header(message, 'Cc')]) if a]
    except Exception:
        parsed.to = []
    parsed.subject = clean_text(_header(message, 'Subject'), SUBJECT_MAX)
    ids = _message_ids(_header(message, 'Message-ID'))
    parsed.message_id = ids[0] if ids else ''
    ids = _message_ids(_header(message, 'In-Reply-To'))
    parsed.in_reply_to = ids[0] if ids else ''
    parsed.references = _message_ids(_header(message, 'References'))

    text = html_ = None
    try:
        body = message.get_body(preferencelist=('plain', 'html'))
    except Exception:
        body = None
    if body is not None:
        content = _part_text(body)
        if body.get_content_subtype() == 'html':
            html_ = content
        else:
            text = content
    elif message.get_content_maintype() == 'text':
        text = _part_text(message)
    if text is None and html_ is not None:
        text = html_to_text(html_)
    parsed.text = clean_text(text or '').strip()

    try:
        parts = list(message.iter_attachments())
    except Exception:
        parts = []
    for index, part in enumerate(parts, 1):
        if part.get_content_maintype() == 'multipart':
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            payload = None
        if payload is None:
            raise MailRejected(
                'malformed', error="unreadable attachment %d" % index)
        filename = _filename(part, index)
        if max_attachment_size and len(payload) > max_attachment_size:
            raise MailRejected('attachment_too_large',
                filename=filename, size=len(payload),
                limit=max_attachment_size)
        parsed.attachments.append(Attachment(
                filename, part.get_content_type(), payload))

    if not parsed.sender:
        raise MailRejected('no_sender')
    if not (parsed.subject or parsed.text or parsed.attachments):
        raise MailRejected('empty')
    return parsed


def new_message_id(domain=None):
    return make_msgid(domain=domain)
