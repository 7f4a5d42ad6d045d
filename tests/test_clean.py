"""Cleaning rules, each with real examples from the forum-support data set and synthetic
helpdesk-style examples.

Real examples are short snippets quoted from forum-support/messages.csv; the comment above
each names its message_id. Where a snippet holds personal data (a person's name), that part
has been replaced by a fictional one of the same shape, and the comment says so.
"""

from __future__ import annotations

import pytest

from casebase.ingest.clean import (
    clean_text,
    fix_encoding,
    html_to_text,
    looks_like_html,
    normalise_whitespace,
    strip_boilerplate,
    strip_greeting,
    strip_images,
    strip_quoted,
    strip_signature,
    unescape_entities,
)

# --- fix_encoding -----------------------------------------------------------------------


def test_fix_encoding_repairs_mojibake():
    # forum-support has no mojibake (it is plain ASCII), so this one is synthetic
    assert fix_encoding("Caf\u00c3\u00a9 invoice for Jos\u00c3\u00a9") == "Caf\u00e9 invoice for Jos\u00e9"
    # ftfy also straightens the curly quotes it recovers
    assert clean_text("the \u00e2\u20ac\u0153Post\u00e2\u20ac\u009d button") == 'the "Post" button'


def test_fix_encoding_leaves_ascii_and_good_unicode_alone():
    # scn-oltp-15.4
    real = "Old ODBC used SYODASE.DLL 4.20.00.67 Thanks"
    assert fix_encoding(real) is real
    good = "Gr\u00fc\u00dfe aus M\u00fcnchen, \u00a31,234.56"
    assert fix_encoding(good) == good


# --- HTML entities and HTML mail ----------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    # scn-abap-9003.0 (ABAP code)
    ("IF sy-subrc &lt;&gt; 0.", "IF sy-subrc <> 0."),
    # scn-abap-9007.0
    ("After copy as zmedruck &amp;\nsave it to z&lt;package &gt; It is not possible to add extra Logo Window",
     "After copy as zmedruck &\nsave it to z<package > It is not possible to add extra Logo Window"),
    # scn-abap-9007.1
    ("GOto-&gt; se71--&gt; enter form name (zmedruck)--&gt; click on\ncreate--&gt;form(in the menu)",
     "GOto-> se71--> enter form name (zmedruck)--> click on\ncreate-->form(in the menu)"),
])
def test_entities_are_unescaped(raw, expected):
    assert unescape_entities(raw) == expected
    assert html_to_text(raw) == expected
    assert clean_text(raw) == expected


def test_unescape_entities_without_entities_is_untouched():
    text = "R&D team: use A&B or C & D"
    assert unescape_entities(text) is text


def test_escaped_quote_marks_in_text_are_not_quotes():
    # scn-frontend-8287.4: "&gt;" at a line start is a menu path, not a quoted line
    raw = ("Safari with the built-in Developer functionality (Preferences &gt; Advanced\n"
           "&gt; Show Develop menu) works great for me too")
    assert clean_text(raw) == ("Safari with the built-in Developer functionality (Preferences > Advanced\n"
                               "> Show Develop menu) works great for me too")


def test_escaped_abap_dump_marker_survives():
    # scn-netweaver-273.4: the ">>>>>" marks the failing line of an ABAP short dump
    raw = ("91 CATCH cx_sy_no_handler INTO lx_error.\n\n&gt;&gt;&gt;&gt;&gt; RAISE EXCEPTION TYPE "
           "/iwbep/cx_sbcm_fatal\nEXPORTING previous = lx_error.")
    assert clean_text(raw) == ("91 CATCH cx_sy_no_handler INTO lx_error.\n\n>>>>> RAISE EXCEPTION TYPE "
                               "/iwbep/cx_sbcm_fatal\nEXPORTING previous = lx_error.")


def test_html_mail_becomes_text_with_breaks_lists_and_pre():
    # synthetic HTML mail as a helpdesk exports it
    raw = ("<html><head><style>p{margin:0}</style></head><body>"
           "<p>Hi Tom,</p><p>The invoice run fails with &quot;ORA-00942: table or view does not exist&quot;"
           "<br>since the upgrade to 2023 R2.</p>"
           "<ul><li>Company: COMPANY.000</li><li>Amount: &pound;1,234.56</li></ul>"
           "<pre>SELECT *\n  FROM invoices\n WHERE id &gt; 10;</pre>"
           "<p>Kind regards,<br>Anna</p></body></html>")
    assert looks_like_html(raw)
    assert clean_text(raw) == (
        'The invoice run fails with "ORA-00942: table or view does not exist"\n'
        "since the upgrade to 2023 R2.\n\n"
        "- Company: COMPANY.000\n"
        "- Amount: \u00a31,234.56\n\n"
        "SELECT *\n  FROM invoices\n WHERE id > 10;"
    )


def test_outlook_html_mail_is_html():
    raw = ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">'
           '<body><p class=MsoNormal>VA01 gives error V1 801<o:p></o:p></p>'
           '<p class=MsoNormal>Thanks<o:p></o:p></p></body></html>')
    assert looks_like_html(raw)
    assert clean_text(raw) == "VA01 gives error V1 801"


def test_docstring_example():
    assert clean_text("<p>Hi Tom,</p><p>Error SQL0911N in v29.1</p>") == "Error SQL0911N in v29.1"


def test_code_with_div_tags_is_not_an_html_mail():
    # docusign-php-v2-48.2: HTML code pasted into a post must be kept tag for tag
    raw = ('HERE is how I upload it from a browser: <div id="files" style="display:none;"><p>Document #1:'
           '<input class="upload" id="file1" type="file" name="file1" /></p><p>Document #2:'
           '<input class="upload" id="file2" type="file" name="file2"/></p></div>  thank you for your help')
    assert not looks_like_html(raw)
    assert html_to_text(raw) == raw
    assert '<div id="files" style="display:none;"><p>Document #1:<input class="upload"' in clean_text(raw)


def test_html_page_pasted_as_code_is_kept():
    # scn-frontend-8181.0: prose, then an indented HTML page (a markdown code block); the page
    # after <title> is shortened to a stand-in script and body
    raw = ("(BTW, I tried version\n1.10.4, 1.12.0 and 1.12.1, same behavior)\n\n\n\n    \n    \n"
           "    <!DOCTYPE html>\n    <html>\n    <head>\n"
           '     <meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>\n'
           '     <meta http-equiv="X-UA-Compatible" content="IE=edge"/>\n     <title></title>\n'
           "     <script>\n      var oTable = new sap.ui.table.Table();\n     </script>\n    </head>\n"
           "    <body class=\"sapUiBody\"><p>Test</p></body>\n    </html>")
    assert not looks_like_html(raw)
    out = clean_text(raw)
    assert "1.10.4, 1.12.0 and 1.12.1" in out
    assert "    <!DOCTYPE html>\n    <html>\n    <head>" in out
    assert "      var oTable = new sap.ui.table.Table();" in out
    assert '<body class="sapUiBody"><p>Test</p></body>' in out


def test_xml_with_a_few_html_tags_is_code():
    # docusign-dotnet-v1-342.5: a resource file; <b> inside it is not an HTML mail
    raw = ("Don't copy the entire resource file in there. <root>  <language twoletterisoname=\"en\">       "
           "<data name=\"DocuSign_IntroStepReview\"><b>Sign Documents</b></data>    ... </language></root>")
    assert not looks_like_html(raw)
    assert clean_text(raw) == ("Don't copy the entire resource file in there. <root> "
                               "<language twoletterisoname=\"en\"> <data name=\"DocuSign_IntroStepReview\">"
                               "<b>Sign Documents</b></data> ... </language></root>")


# --- markdown images ----------------------------------------------------------------------


def test_linked_image_becomes_a_label():
    # scn-netweaver-434.1 (the image URL is wrapped over lines, as scraped)
    raw = ("Hello Now I am getting below error message\n\n\n\n"
           "[![Capture.PNG](http://scn.sap.com/servlet/JiveServlet/downloadImage/2-1594900\n"
           "2-702094/640-299/Capture.PNG)](http://scn.sap.com/servlet/JiveServlet/showImag\n"
           "e/2-15949002-702094/Capture.PNG)")
    assert strip_images(raw) == "Hello Now I am getting below error message\n\n\n\n[image: Capture.PNG]"
    assert clean_text(raw) == "Hello Now I am getting below error message\n\n[image: Capture.PNG]"


def test_images_without_a_name():
    # scn-netweaver-497.2
    raw = ("Get the Object Directory Entry.\n\n\n\n"
           "[![](http://scn.sap.com/servlet/JiveServlet/downloadImage/2-16167594-771272/pa\n"
           "stedImage_0.png)](http://scn.sap.com/servlet/JiveServlet/showImage/2-16167594-\n"
           "771272/pastedImage_0.png)")
    assert clean_text(raw) == "Get the Object Directory Entry.\n\n[image]"
    # scn-frontend-8197.1: an emoticon, a bare markdown image
    assert strip_images("Nobody? ![](http://scn.sap.com/1382/images/emoticons/sad.gif)") == "Nobody? [image]"


def test_markdown_links_are_not_images():
    # scn-netweaver-410.5
    raw = "check this thread\nfor e.g. [how to declare ranges](http://scn.sap.com/thread/322485)"
    assert strip_images(raw) == raw


# --- quoted replies -----------------------------------------------------------------------


def test_on_date_wrote_cuts_the_quoted_mail():
    # docusign-java-v4-16.2 (the quoted person's name replaced by a fictional one)
    raw = ("I reached out to our engineers and here is what I've got:\n \n\n"
           "On May 31, 2011, at 9:02 AM, Tom Rudge wrote:\n"
           "When I copied and pasted the UserId posted in the URL below, I noticed that it contained a "
           "non-printing character")
    assert clean_text(raw) == "I reached out to our engineers and here is what I've got:"


def test_synthetic_wrote_line_and_original_message_block():
    raw = ("Restarting the Sage service fixed it, thanks.\n\n"
           "On 12/03/2024 14:02, Tom Baker wrote:\n"
           "> Please restart the service and try again.\n")
    assert clean_text(raw) == "Restarting the Sage service fixed it, thanks."
    raw = ("Please see the log below.\n\n"
           "-----Original Message-----\n"
           "From: Tom Baker <tom.baker@example.com>\n"
           "Sent: 12 March 2024 14:02\n"
           "To: Support <support@example.com>\n"
           "Subject: RE: Invoice run fails\n\n"
           "Can you send the log?")
    assert clean_text(raw) == "Please see the log below."
    # an Outlook header without the "Original Message" line
    raw = ("ME21N still dumps.\n\n________________________________\nFrom: Support Desk\n"
           "Sent: Tuesday, 12 March 2024 14:02\nTo: Anna Berg\nSubject: Ticket 4711\n\nHave you tried ...")
    assert clean_text(raw) == "ME21N still dumps."


def test_quoted_reply_lines_are_removed():
    # scn-frontend-8162.9 (the quoted person's name replaced by a fictional one)
    raw = ("> Anders Kurz wrote:\n\n>\n\n>\n\n>\n\n"
           "> <https://sapui5.netweaver.ondemand.com/sdk/#docs/guide/ODataModel.html>\n\n>\n\n"
           "> explains at the bottom how you can add $select parameters.\n\n"
           "thanks for this hint!\n\nI was just looking for documentation in the API Reference")
    assert strip_quoted(raw).strip().startswith("thanks for this hint!")
    assert clean_text(raw) == "thanks for this hint!\n\nI was just looking for documentation in the API Reference"


def test_quote_opening_a_reply_after_the_greeting_is_removed():
    # scn-netweaver-496.8 (the greeted name replaced by a fictional one)
    raw = ("Hi Vilas,\n\n\n\n> In other way my question is how the PGD system is going to call ICD System.\n\n"
           "PGD calls ICD through the RFC destination.")
    assert clean_text(raw) == "PGD calls ICD through the RFC destination."


def test_quoted_code_in_an_answer_is_kept():
    # scn-abap-9015.1: the forum shows code as a block quote; it is the answer, not a quote
    raw = ("You can use the macros within the PO processing\n\n> IF value lt 0.\n\n>\n\n"
           ">  INCLUDE mm_messages_mac.\n\n>\n\n>  MESSAGE e525(ZMSG) WITH text-003 text-004 INTO gl_dummy.")
    assert strip_quoted(raw) == raw
    assert clean_text(raw) == ("You can use the macros within the PO processing\n\n> IF value lt 0.\n\n>\n\n"
                               "> INCLUDE mm_messages_mac.\n\n>\n\n"
                               "> MESSAGE e525(ZMSG) WITH text-003 text-004 INTO gl_dummy.")


def test_from_to_in_a_dependency_error_is_not_a_mail_header():
    # scn-netweaver-129.0: Eclipse's "From: ... To: ..." is not "From:/Sent:/To:"
    raw = ("Cannot satisfy dependency:\n\n From: SAP Integration Technology Commons Eclipse Base 1.6.1\n"
           "(com.sap.it.commons.command.base.feature.feature.group 1.6.1)\n\n"
           " To: com.sap.it.commons.command.http.apacheclient [1.6.0]")
    assert strip_quoted(raw) == raw
    assert "To: com.sap.it.commons.command.http.apacheclient [1.6.0]" in clean_text(raw)


# --- boilerplate ---------------------------------------------------------------------------


def test_message_was_edited_by_is_removed():
    # scn-abap-9012.3 (the editor's name replaced by a fictional one)
    raw = ("attachment in the background, so you have to create some analogue.\n\n\n\n\n\n"
           "Message was edited by: Sergei Korov")
    assert strip_boilerplate(raw).strip() == "attachment in the background, so you have to create some analogue."
    assert clean_text(raw) == "attachment in the background, so you have to create some analogue."


def test_edited_by_glued_to_content_keeps_the_content():
    # scn-oltp-70.3: the scrape lost the line break after the editor's name (name replaced)
    raw = ("Thanks,SaidMessage was edited by: Sami amal and this is for the select @@version "
           "Adaptive Server Enterprise/15.7.0/EBF 20374 SMP ESD#02")
    out = strip_boilerplate(raw)
    assert "Message was edited by" not in out and "Sami amal" not in out
    assert "and this is for the select @@version Adaptive Server Enterprise/15.7.0/EBF 20374 SMP ESD#02" in out


def test_scn_edited_by_line_is_removed():
    # scn-abap-9064.1 (names replaced by fictional ones)
    raw = ("You can fetch fields for a particular table from table DD03L.\n\n\n\nRegards\n\nSamir\n\n\n\n"
           "Edited by: Samir RA on Apr 17, 2009 2:34 PM")
    assert clean_text(raw) == "You can fetch fields for a particular table from table DD03L."


def test_helpdesk_boilerplate_is_removed():
    raw = ("TICKET RECEIVED: #48213 - Sage 50 backup fails\n"
           "This is an automated message. Please do not reply to this email.\n"
           "DESCRIPTION: Backup to C:\\ProgramData\\Sage\\Accounts\\2024\\COMPANY.000 fails with 0x80004005\n\n"
           "Sent from my iPhone")
    assert clean_text(raw) == "Backup to C:\\ProgramData\\Sage\\Accounts\\2024\\COMPANY.000 fails with 0x80004005"
    assert strip_boilerplate("PROBLEM: VA01 hangs\nDETAILS: since 09:00") == "VA01 hangs\nsince 09:00"


# --- signatures and disclaimers -----------------------------------------------------------


def test_glued_sign_off_with_name_is_removed():
    # scn-oltp-6.1 (the name replaced by a fictional one)
    raw = "The Sybase ODBC driver comes with the SDK.How to download Sybase ASE SDK?Best Regards,Paul Rivers"
    assert strip_signature(raw) == "The Sybase ODBC driver comes with the SDK.How to download Sybase ASE SDK?"


def test_sign_off_block_is_removed():
    # scn-netweaver-450.1 (names replaced by fictional ones)
    raw = "Hi Sunita,\n\n\n\nCan you provide the full payload.\n\n\n\nRegards,\n\nEkaterina"
    assert clean_text(raw) == "Can you provide the full payload."
    # synthetic multi-line signature
    raw = ("VA01 works again.\n\nKind regards,\nTom Baker\nSenior Support Engineer\nAcme Ltd\n"
           "Tel: 01632 960123\nwww.acme.example")
    assert clean_text(raw) == "VA01 works again."


def test_signature_delimiter_and_disclaimer_are_removed():
    raw = ("The transport is in /usr/sap/trans/data.\n\n-- \nTom Baker\nAcme Ltd | 01632 960123\n")
    assert clean_text(raw) == "The transport is in /usr/sap/trans/data."
    raw = ("The period-end job finished.\n\n"
           "This email and any attachments are confidential and intended solely for the addressee. "
           "If you have received this email in error please notify the sender.\n\n"
           "Registered in England and Wales No. 01234567.")
    assert clean_text(raw) == "The period-end job finished."
    raw = "Fixed in v29.1.\n\nCONFIDENTIALITY NOTICE: the contents of this email are private."
    assert clean_text(raw) == "Fixed in v29.1."


def test_disclaimer_as_an_ordinary_word_stays():
    # docusign-php-v2-129.2
    raw = ("How do I prevent the attached disclaimer from appearing in the pdf/ document created when "
           "using the api from the sdk thanks,")
    assert clean_text(raw) == raw
    # scn-frontend-8182.4
    raw = ("(Disclaimer: this is just a personal coding proposal, no SAP code delivery...)\n\n\n\n"
           "All code is in the HTML file")
    assert clean_text(raw) == ("(Disclaimer: this is just a personal coding proposal, no SAP code delivery...)\n\n"
                               "All code is in the HTML file")


def test_content_after_the_sign_off_is_kept():
    # scn-frontend-8109.10 (the name replaced by a fictional one): a P.S. is content
    raw = ("Maybe publish your ear-somewhere and I'll\ntake a look....\n\n\n\nRegards,\n\nJonas\n\n\n\n"
           "P.S.: Why are you always exporting things? Can't you deploy directly via NWDS?\n(DC-Build/Deploy)")
    assert "Can't you deploy directly via NWDS?" in clean_text(raw)
    # scn-frontend-8205.0 (the name replaced): the screenshot after the name shows the issue
    raw = ("Has anyone come across any such issue?\n\n\n\nThanks,\n\nJamal\n\n"
           "[![Chart Date issue.jpg](http://scn.sap.com/servlet/JiveServlet/downloadImage/\n"
           "2-13858830-186589/450-24/Chart+Date+issue.jpg)](http://scn.sap.com/x/Chart+Date+issue.jpg)")
    assert "[image: Chart Date issue.jpg]" in clean_text(raw)
    # scn-netweaver-221.12 (the name replaced): the versions after the sign-off are content
    raw = ("Do you have an idea what is happening?\n\n\n\nWishes,\n\nAxel\n\n\n\nSP:\n\nBackend:\n\n"
           "IW_BEP -&gt; 200 08\n\nHub:\n\nSAPGW_FND -&gt; 740 07")
    out = clean_text(raw)
    assert "IW_BEP -> 200 08" in out and "SAPGW_FND -> 740 07" in out


def test_thanks_in_the_middle_is_not_a_sign_off():
    # scn-frontend-8272.2 (the names replaced by fictional ones)
    raw = ("Hey JPS\n\nThanks.\n\n\n\nI tried the above but does not work. I found the issue, well sap.m.button\n"
           "fires the event \"tap\" instead of \"press\" if the control is tapped/pressed :)\n\n\n\n"
           "so, this works -\n\n\n\ntap: oController.clickBackButton\n\n\n\nThanks for your time.\n\nSanjay")
    out = clean_text(raw)
    assert "fires the event \"tap\" instead of \"press\"" in out
    assert "tap: oController.clickBackButton" in out


def test_closing_ta_does_not_eat_an_error_token():
    # scn-netweaver-359.3: "TA" is a closing ("ta"), but not inside "TAG_END"
    raw = ('produces the error message: "Error loading\n<http://wsf.cdyne.com/WeatherWS/Weather.asmx?WSDL>: '
           "XmlException: Unexpected\nelement: TAG_END.")
    assert clean_text(raw) == raw


# --- greetings ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    # scn-3d-7.0: the scrape lost the line break after "Hi all,"
    ("Hi all,I am working on a website and I am trying to display a visual element object.",
     "I am working on a website and I am trying to display a visual element object."),
    # scn-3d-1.0
    ("Hi to all.With SDK VEA SDK2.3 i'm trying to set up a demo program.",
     "With SDK VEA SDK2.3 i'm trying to set up a demo program."),
    # docusign-php-v2-65.1
    ("Hi - let me look into this. Thanks.", "let me look into this. Thanks."),
    # scn-abap-9037.5 (the linked profile name and address replaced by fictional ones)
    ("Hello **[bhanu kumar](http://scn.sap.com/people/bhanu.kumar) **\n\nI have tried many times without success",
     "I have tried many times without success"),
    # synthetic
    ("Dear Support team,\n\nVA01 hangs.", "VA01 hangs."),
    ("Good morning everyone!\nME21N dumps.", "ME21N dumps."),
    ("Hello Mr. Smith,\nThe backup fails.", "The backup fails."),
])
def test_greeting_is_removed(raw, expected):
    assert strip_greeting(raw).lstrip("\n") == expected
    assert clean_text(raw) == expected


@pytest.mark.parametrize("raw", [
    # scn-netweaver-434.1: no greeting line, the sentence starts right after "Hello"
    "Hello Now I am getting below error message\n\n[image: Capture.PNG]",
    # scn-oltp-15.13
    "Hi I attached ODBC log file.I changed connection string like this",
    # scn-oltp-229.2 (the name replaced by a fictional one): the thanks is the message
    "Hey Brett thanks once again.Oops! My silly mistake of double backslash.",
    # a greeting only: never remove the whole message
    "Hi all,",
])
def test_greeting_does_not_eat_the_sentence(raw):
    assert strip_greeting(raw) == raw


def test_greeting_before_sentence_after_dash():
    # docusign-java-v4-39.1
    assert strip_greeting("Hi - I am not sure about this. Need to look into it.") == (
        "I am not sure about this. Need to look into it.")


# --- white space ------------------------------------------------------------------------------


def test_whitespace_is_normalised_and_code_indentation_kept():
    # scn-abap-9003.0: trailing blanks and runs of blank lines of the scrape; the code's indentation
    raw = " CALL FUNCTION 'LIST_FROM_MEMORY'  \n  \n TABLES  \n  \n listobject = listtab  \n  \n\n\n\n EXCEPTIONS"
    assert normalise_whitespace(raw) == (
        "CALL FUNCTION 'LIST_FROM_MEMORY'\n\n TABLES\n\n listobject = listtab\n\n EXCEPTIONS")
    # synthetic: CRLF, zero-width and no-break spaces, runs of spaces inside a line
    raw = "Line one\r\nLine\u200b two\u00a0\u00a0with   gaps\r\n\r\n\r\n\r\n    indented code\r\n"
    assert normalise_whitespace(raw) == "Line one\nLine two with gaps\n\n    indented code"


# --- clean_text as a whole ----------------------------------------------------------------------


def test_empty_input():
    assert clean_text(None) == ""
    assert clean_text("") == ""


@pytest.mark.parametrize("text", [
    "Thanks",  # scn-3d-17.4 is "Thanks."
    "Thanks.",
    "ok thanks",
    "Thanks, that worked!",
    "thanks a lot",  # scn-abap-9024.6
    "Thanks, yes it is working.",  # scn-netweaver-283.3
    "Okay thanks. Im new to this area.",  # scn-oltp-65.2
    "Thank you!",
])
def test_thanks_only_messages_survive(text):
    # these are signals for later stages (the asker confirms a solution)
    assert clean_text(text) == text


TECHNICAL = [
    "Error SQL0911N occurs when two users post at once.",
    "The query fails with ORA-00942: table or view does not exist.",
    "Implement BTE 01000821 for the payment run.",
    "Windows reports HRESULT 0x80004005 (E_FAIL).",
    "Use ME21N to create the PO, then VA01 for the sales order.",
    "Upgraded from 2023 R2 to v29.1 last week.",
    "Client is 15.7.0.80 against ASE 15.0.3 ESD#4.",
    "The total was \u00a31,234.56 and the German invoice says 1.234,56 EUR.",
    "The data is in C:\\ProgramData\\Sage\\Accounts\\2024\\COMPANY.000 on the server.",
    "Copy the files to /usr/sap/trans/cofiles and /usr/sap/trans/data.",
    "See https://launchpad.support.sap.com/#/notes/1234567 and http://172.22.0.168:8000/sap/opu/odata/.",
    "IF sy-subrc <> 0.\n    MESSAGE e001(zmsg).\n  ENDIF.",
    "def post(self):\n    for line in lines:\n        total += line.amount",
]


@pytest.mark.parametrize("text", TECHNICAL)
def test_technical_content_survives_unchanged(text):
    assert clean_text(text) == text


def test_technical_content_survives_in_a_full_mail():
    body = "\n\n".join(TECHNICAL)
    raw = f"Hi Tom,\n\n{body}\n\nKind regards,\nAnna\n\nSent from my iPhone"
    assert clean_text(raw) == body
