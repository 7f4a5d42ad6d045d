"""A labelled set of support e-mails in German, French, Dutch, Spanish, Italian and English for
the cleaning rules (``bench/clean_multilingual.py``). All text is written for this set: names,
companies, addresses, phone numbers and mail addresses are fictional (example.* domains).

Each case is assembled from parts: greeting, the new text (what cleaning must keep), a sign-off
with its signature block, and the quoted history in one of the mail-client styles; the expected
clean text is the new text alone. "trap" cases hold content that looks like a header, a quote
intro or a sign-off and must come out whole.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    raw: str
    expected: str
    quote: str = ""  # the quoted history in raw (must not survive)
    signature: str = ""  # the sign-off and signature block in raw (must not survive)
    greeting: str = ""  # the greeting line in raw


# per language: greetings, new texts, sign-off + signature blocks, quote styles (header, quoted old mail)
LANGS: dict[str, dict] = {
    "de": {
        "greetings": ["Hallo Herr Becker,", "Sehr geehrte Damen und Herren,", "Guten Tag Frau Schmidt,", "Hallo zusammen,"],
        "bodies": [
            "nach dem Update auf Version 4.2.1 bricht der Export mit Fehler E-4711 ab.\n"
            "Das Protokoll liegt unter C:\\ProgramData\\Muster\\export.log, die Rechnung 2026-0815 fehlt.",
            "der Login schlägt seit heute Morgen fehl (HTTP 502), betroffen sind alle Benutzer am Standort Köln.\n"
            "Ein Neustart des Dienstes svc-auth hat nicht geholfen.",
            "danke, mit dem Patch 4.2.2 läuft der Export wieder durch.\nSie können das Ticket schließen.",
            "die Buchung über 1.234,56 EUR wurde doppelt angelegt. Bitte stornieren Sie Beleg 5100000042.",
        ],
        "signatures": [
            "Mit freundlichen Grüßen\nJürgen Becker\nLeiter IT\nMusterbau GmbH\nHauptstraße 12\n80331 München\n"
            "Tel.: +49 89 1234567\nE-Mail: j.becker@musterbau.example\nwww.musterbau.example\n"
            "Geschäftsführer: Dr. Anna Roth\nAmtsgericht München HRB 123456",
            "Viele Grüße\nSabine Krüger",
            "Beste Grüße / Kind regards\nThomas Wagner\nSupport Team\nTel. +49 30 9876543",
        ],
        "quotes": [
            ("Am 03.12.2026 um 10:15 schrieb Support <support@helpdesk.example>:",
             "> Sehr geehrter Kunde,\n> bitte senden Sie uns das Protokoll der Sitzung.\n> Ihr Helpdesk-Team"),
            ("Von: Support <support@helpdesk.example>\nGesendet: Donnerstag, 3. Dezember 2026 10:15\n"
             "An: Jürgen Becker <j.becker@musterbau.example>\nBetreff: AW: Ticket 88231 Exportabbruch",
             "Sehr geehrter Kunde,\nwir benötigen die Versionsnummer Ihrer Installation.\nIhr Helpdesk-Team"),
            ("-----Ursprüngliche Nachricht-----\nVon: Helpdesk <support@helpdesk.example>\n"
             "Gesendet: Mittwoch, 2. Dezember 2026 16:40\nAn: Sabine Krüger\nBetreff: Ticket 88231",
             "Guten Tag,\nhaben Sie die Zugangsdaten geprüft?\nGruß Helpdesk"),
            ("Am Mi., 2. Dez. 2026 um 16:40 Uhr schrieb Helpdesk <support@helpdesk.example>:",
             "> Guten Tag,\n> wir melden uns morgen mit einer Lösung.\n> Gruß Helpdesk"),
            ("Von: Helpdesk Gesendet: Mittwoch, 2. Dezember 2026 16:40 An: Thomas Wagner Betreff: WG: Ticket 88231",
             "Wir haben die Anfrage an die Entwicklung weitergeleitet."),
        ],
        "traps": [
            "Von: der Buchhaltung kam heute die Meldung, dass Beleg 4711 fehlt.\nBitte prüfen Sie den Abgleich.",
            "Am Montag schrieb der Kunde:\ndas Formular lädt nicht. Seitdem tritt Fehler 0x80070005 auf.",
            "Die Grüße im Template werden falsch kodiert: aus \"Grüße\" wird \"Gr??e\".\n"
            "Vielen Dank für Ihre Hilfe beim Zeichensatz UTF-8.",
        ],
    },
    "fr": {
        "greetings": ["Bonjour Madame Dubois,", "Bonjour,", "Madame, Monsieur,", "Cher support,"],
        "bodies": [
            "depuis la mise à jour 4.2.1, l'export s'arrête avec l'erreur E-4711.\n"
            "Le journal se trouve dans /var/log/muster/export.log et la facture FA-2026-0815 manque.",
            "la connexion échoue depuis ce matin (HTTP 502) pour tous les utilisateurs du site de Lyon.\n"
            "Le redémarrage du service svc-auth n'a rien changé.",
            "merci, avec le correctif 4.2.2 l'export fonctionne de nouveau.\nVous pouvez clôturer le ticket.",
            "l'écriture de 1 234,56 EUR a été passée deux fois. Merci d'annuler la pièce 5100000042.",
        ],
        "signatures": [
            "Cordialement,\nÉmilie Dubois\nResponsable informatique\nDubois Logistique SARL\n12 rue de la Paix\n"
            "69002 Lyon\nTél. : +33 4 72 12 34 56\nemilie.dubois@dubois-logistique.example\nwww.dubois-logistique.example",
            "Bien à vous,\nPierre Martin",
            "Bien cordialement\nJean Lefèvre\nService client",
        ],
        "quotes": [
            ("Le 3 déc. 2026 à 10:15, Support <support@helpdesk.example> a écrit :",
             "> Bonjour,\n> pouvez-vous nous envoyer le journal de la session ?\n> L'équipe support"),
            ("De : Support <support@helpdesk.example>\nEnvoyé : jeudi 3 décembre 2026 10:15\n"
             "À : Émilie Dubois <emilie.dubois@dubois-logistique.example>\nObjet : RE: Ticket 88231 export interrompu",
             "Bonjour,\nnous avons besoin du numéro de version de votre installation.\nL'équipe support"),
            ("-----Message d'origine-----\nDe : Helpdesk <support@helpdesk.example>\n"
             "Envoyé : mercredi 2 décembre 2026 16:40\nÀ : Pierre Martin\nObjet : Ticket 88231",
             "Bonjour,\navez-vous vérifié les identifiants ?\nSalutations, le helpdesk"),
            ("Le mer. 2 déc. 2026 à 16:40, Helpdesk <support@helpdesk.example> a écrit :",
             "> Bonjour,\n> nous revenons vers vous demain avec une solution.\n> Le helpdesk"),
        ],
        "traps": [
            "Le serveur a écrit : \"disk full\" dans le journal, puis s'est arrêté.\nL'espace libre est de 0 octet.",
            "De : notre côté, rien n'a changé depuis la version 4.1.\nPouvez-vous vérifier la configuration ?",
        ],
    },
    "nl": {
        "greetings": ["Beste Jan,", "Geachte heer Jansen,", "Hallo,", "Goedemorgen,"],
        "bodies": [
            "sinds de update naar versie 4.2.1 stopt de export met fout E-4711.\n"
            "Het logbestand staat in /var/log/muster/export.log en factuur 2026-0815 ontbreekt.",
            "inloggen lukt sinds vanochtend niet meer (HTTP 502), alle gebruikers in Utrecht hebben er last van.\n"
            "Een herstart van de dienst svc-auth hielp niet.",
            "bedankt, met patch 4.2.2 werkt de export weer.\nU kunt het ticket sluiten.",
        ],
        "signatures": [
            "Met vriendelijke groet,\nJan Jansen\nIT-beheer\nJansen Transport B.V.\nKanaalweg 7\n3526 KL Utrecht\n"
            "T: +31 30 123 4567\nE: jan.jansen@jansen-transport.example\nKvK 12345678",
            "Groeten,\nEva de Vries",
            "Met vriendelijke groeten\nPieter Bakker\nServicedesk",
        ],
        "quotes": [
            ("Op 3 dec. 2026 om 10:15 schreef Support <support@helpdesk.example>:",
             "> Beste klant,\n> kunt u ons het logbestand van de sessie sturen?\n> Het supportteam"),
            ("Van: Support <support@helpdesk.example>\nVerzonden: donderdag 3 december 2026 10:15\n"
             "Aan: Jan Jansen <jan.jansen@jansen-transport.example>\nOnderwerp: RE: Ticket 88231 export afgebroken",
             "Beste klant,\nwij hebben het versienummer van uw installatie nodig.\nHet supportteam"),
            ("-----Oorspronkelijk bericht-----\nVan: Helpdesk <support@helpdesk.example>\n"
             "Verzonden: woensdag 2 december 2026 16:40\nAan: Eva de Vries\nOnderwerp: Ticket 88231",
             "Hallo,\nheeft u de inloggegevens gecontroleerd?\nGroet, helpdesk"),
        ],
        "traps": [
            "Van: de leverancier kregen we vandaag pakbon 4711 zonder orderregels.\nKunt u dat nakijken?",
        ],
    },
    "es": {
        "greetings": ["Hola Juan,", "Estimado Sr. García:", "Buenos días,", "Hola:"],
        "bodies": [
            "desde la actualización a la versión 4.2.1 la exportación se detiene con el error E-4711.\n"
            "El registro está en /var/log/muster/export.log y falta la factura 2026-0815.",
            "el inicio de sesión falla desde esta mañana (HTTP 502) para todos los usuarios de Sevilla.\n"
            "Reiniciar el servicio svc-auth no ha servido.",
            "gracias, con el parche 4.2.2 la exportación vuelve a funcionar.\nPueden cerrar el ticket.",
        ],
        "signatures": [
            "Saludos cordiales,\nJuan García\nResponsable de sistemas\nGarcía Distribución S.L.\nCalle Mayor 5\n"
            "41001 Sevilla\nTel.: +34 954 123 456\njuan.garcia@garcia-distribucion.example",
            "Un saludo,\nLucía Fernández",
            "Atentamente,\nCarlos Ruiz\nDepartamento de compras",
        ],
        "quotes": [
            ("El 3 dic 2026, a las 10:15, Support <support@helpdesk.example> escribió:",
             "> Hola,\n> ¿nos puede enviar el registro de la sesión?\n> El equipo de soporte"),
            ("De: Support <support@helpdesk.example>\nEnviado: jueves, 3 de diciembre de 2026 10:15\n"
             "Para: Juan García <juan.garcia@garcia-distribucion.example>\nAsunto: RE: Ticket 88231 exportación interrumpida",
             "Hola,\nnecesitamos el número de versión de su instalación.\nEl equipo de soporte"),
            ("-----Mensaje original-----\nDe: Helpdesk <support@helpdesk.example>\n"
             "Enviado el: miércoles, 2 de diciembre de 2026 16:40\nPara: Lucía Fernández\nAsunto: Ticket 88231",
             "Hola,\n¿ha comprobado las credenciales?\nSaludos, helpdesk"),
        ],
        "traps": [
            "De: la oficina de Madrid nos llegó el pedido 4711 sin líneas.\nPor favor, revisen la interfaz.",
        ],
    },
    "it": {
        "greetings": ["Buongiorno,", "Gentile Sig. Rossi,", "Ciao Marco,", "Salve,"],
        "bodies": [
            "dopo l'aggiornamento alla versione 4.2.1 l'esportazione si interrompe con l'errore E-4711.\n"
            "Il log si trova in /var/log/muster/export.log e manca la fattura 2026-0815.",
            "l'accesso non funziona da stamattina (HTTP 502) per tutti gli utenti della sede di Torino.\n"
            "Il riavvio del servizio svc-auth non è servito.",
            "grazie, con la patch 4.2.2 l'esportazione funziona di nuovo.\nPotete chiudere il ticket.",
        ],
        "signatures": [
            "Cordiali saluti,\nMarco Rossi\nResponsabile IT\nRossi Logistica S.r.l.\nVia Roma 10\n10121 Torino\n"
            "Tel. +39 011 123 4567\nmarco.rossi@rossi-logistica.example\nP. IVA 01234567890",
            "Distinti saluti\nGiulia Bianchi",
            "Un saluto,\nLuca Conti\nUfficio acquisti",
        ],
        "quotes": [
            ("Il giorno 3 dic 2026, alle ore 10:15, Support <support@helpdesk.example> ha scritto:",
             "> Buongiorno,\n> potete inviarci il log della sessione?\n> Il team di supporto"),
            ("Da: Support <support@helpdesk.example>\nInviato: giovedì 3 dicembre 2026 10:15\n"
             "A: Marco Rossi <marco.rossi@rossi-logistica.example>\nOggetto: R: Ticket 88231 esportazione interrotta",
             "Buongiorno,\nci serve il numero di versione della vostra installazione.\nIl team di supporto"),
            ("-----Messaggio originale-----\nDa: Helpdesk <support@helpdesk.example>\n"
             "Inviato: mercoledì 2 dicembre 2026 16:40\nA: Giulia Bianchi\nOggetto: Ticket 88231",
             "Salve,\navete verificato le credenziali?\nSaluti, helpdesk"),
        ],
        "traps": [
            "Da: qualche giorno il report 4711 esce vuoto.\nIl problema si presenta solo con il filtro per data.",
        ],
    },
    "en": {
        "greetings": ["Hi Tom,", "Dear Support,", "Hello all,", "Good morning,"],
        "bodies": [
            "since the update to version 4.2.1 the export stops with error E-4711.\n"
            "The log is in /var/log/muster/export.log and invoice 2026-0815 is missing.",
            "login fails since this morning (HTTP 502) for all users at the Leeds site.\n"
            "Restarting the svc-auth service did not help.",
            "thanks, with patch 4.2.2 the export works again.\nYou can close the ticket.",
        ],
        "signatures": [
            "Kind regards,\nTom Baker\nIT Manager\nBaker Freight Ltd\n12 High Street\nLeeds LS1 4AB\n"
            "Tel: +44 113 123 4567\ntom.baker@baker-freight.example\nwww.baker-freight.example",
            "Thanks,\nSarah Lee",
            "Best regards\nMark Evans\nService Desk",
        ],
        "quotes": [
            ("On Thu, 3 Dec 2026 at 10:15, Support <support@helpdesk.example> wrote:",
             "> Hello,\n> could you send us the session log?\n> The support team"),
            ("From: Support <support@helpdesk.example>\nSent: Thursday, December 3, 2026 10:15 AM\n"
             "To: Tom Baker <tom.baker@baker-freight.example>\nSubject: RE: Ticket 88231 export aborted",
             "Hello,\nwe need the version number of your installation.\nThe support team"),
            ("-----Original Message-----\nFrom: Helpdesk <support@helpdesk.example>\n"
             "Sent: Wednesday, December 2, 2026 4:40 PM\nTo: Sarah Lee\nSubject: Ticket 88231",
             "Hello,\nhave you checked the credentials?\nRegards, helpdesk"),
        ],
        "traps": [
            "From: the log we can see the job started at 10:15.\nDate: 2026-12-03 is when it began failing.",
        ],
    },
}

PER_LANG = {"de": 8, "fr": 7, "nl": 6, "es": 6, "it": 6, "en": 6}


def cases() -> list[Case]:
    """The labelled set: per language PER_LANG threads (each part cycled so that every greeting,
    text, signature and quote style occurs) plus the traps."""
    out: list[Case] = []
    for lang, parts in LANGS.items():
        g, b, s, q = parts["greetings"], parts["bodies"], parts["signatures"], parts["quotes"]
        for i in range(PER_LANG[lang]):
            body = b[i % len(b)]
            sig = s[(i + i // len(b)) % len(s)]
            header, old = q[i % len(q)]
            quote = f"{header}\n{old}"
            raw = f"{g[i % len(g)]}\n\n{body}\n\n{sig}\n\n{quote}\n"
            if i % 3 == 2:  # some without the signature block, some without the quote
                raw, sig = f"{g[i % len(g)]}\n\n{body}\n\n{quote}\n", ""
            elif i % 5 == 4:
                raw, quote = f"{g[i % len(g)]}\n\n{body}\n\n{sig}\n", ""
            out.append(Case(f"{lang}-{i}", lang, raw, body, quote, sig, g[i % len(g)]))
        for j, trap in enumerate(parts["traps"]):
            out.append(Case(f"{lang}-trap-{j}", lang, trap + "\n", trap))
    return out


# Written after the rules, in forms the parts above do not use (bold Outlook keys, wrapped intro
# lines, Swiss spelling, bilingual sign-offs, Gmail forwards, mobile footers, disclaimers); scored
# on their own as "heldout" so that the figures do not only show what the rules were fitted to.
_H = [
    ("de", "Guten Morgen,\n\nder Drucker im 2. OG meldet weiterhin Papierstau (Code 13.B2.D3).\n\n"
           "Freundliche Grüsse\nUrs Meier\nMeier Treuhand AG\nTel. +41 44 123 45 67\n\n"
           "*Von:* Helpdesk <support@helpdesk.example>\n*Gesendet:* Dienstag, 1. Dezember 2026 08:12\n"
           "*An:* Urs Meier\n*Betreff:* Ticket 88300\n\nBitte starten Sie den Drucker neu.\n",
     "der Drucker im 2. OG meldet weiterhin Papierstau (Code 13.B2.D3)."),
    ("de", "Hallo,\n\ndas Zertifikat für vpn.example.de läuft am 31.12.2026 ab.\n\nLG\nTim\n\n"
           "Von meinem iPhone gesendet\n\nAm 01.12.2026 um 09:30 schrieb Helpdesk\n<support@helpdesk.example>:\n\n"
           "> Welche Domain ist betroffen?\n",
     "das Zertifikat für vpn.example.de läuft am 31.12.2026 ab."),
    ("de", "Die Sicherung lief heute Nacht ohne Fehler durch (Job BK-22, 412 GB).\n\n"
           "Mit freundlichem Gruß / Best regards\nKarin Vogel\n\n"
           "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat sind, "
           "informieren Sie bitte sofort den Absender.\n",
     "Die Sicherung lief heute Nacht ohne Fehler durch (Job BK-22, 412 GB)."),
    ("fr", "Bonjour,\n\nle module de paie affiche « erreur 0x1F » à la clôture du mois.\n\n"
           "Meilleures salutations,\nClaire Fontaine\n\nEnvoyé de mon iPhone\n\n"
           "Le lun. 30 nov. 2026 à 17:05, Helpdesk <support@helpdesk.example>\na écrit :\n\n> Pouvez-vous préciser ?\n",
     "le module de paie affiche « erreur 0x1F » à la clôture du mois."),
    ("fr", "Voici la capture demandée, le champ TVA reste vide pour le client C-1042.\n\n"
           "---------- Message transféré ---------\nDe : Compta <compta@client.example>\n"
           "Date : lun. 30 nov. 2026 à 11:00\nObjet : TVA manquante\nÀ : Claire Fontaine\n\nLe champ est vide.\n",
     "Voici la capture demandée, le champ TVA reste vide pour le client C-1042."),
    ("nl", "Hoi Kees,\n\nde koppeling met het magazijn (API v3) geeft sinds vannacht timeouts na 30 s.\n\n"
           "Met vriendelijke groet / Kind regards\nSanne Visser\n\n"
           "Op ma 30 nov. 2026 om 16:44 schreef Helpdesk <support@helpdesk.example>:\n\n> Is het probleem opgelost?\n",
     "de koppeling met het magazijn (API v3) geeft sinds vannacht timeouts na 30 s."),
    ("nl", "Het rapport R-17 toont dubbele regels voor order 2026-5531.\n\nGroet,\nBram\n\n"
           "Verzonden vanaf mijn iPhone\n",
     "Het rapport R-17 toont dubbele regels voor order 2026-5531."),
    ("es", "Buenas tardes:\n\nel informe de stock muestra cantidades negativas en el almacén 03.\n\n"
           "Un cordial saludo,\nAna López\nJefa de almacén\n\n"
           "El lun, 30 nov 2026 a las 16:44, Helpdesk (<support@helpdesk.example>) escribió:\n\n> ¿Desde cuándo ocurre?\n",
     "el informe de stock muestra cantidades negativas en el almacén 03."),
    ("es", "Adjunto el registro del error ORA-01555 de anoche.\n\nSaludos\nPablo\n\nEnviado desde mi móvil\n",
     "Adjunto el registro del error ORA-01555 de anoche."),
    ("it", "Buonasera,\n\nla stampa delle bolle (modulo DDT) si blocca al 99%.\n\nCordiali saluti / Best regards\n"
           "Paolo Greco\n\nIl giorno lun 30 nov 2026 alle ore 16:44 Helpdesk <support@helpdesk.example> ha scritto:\n\n"
           "> Avete provato a riavviare?\n",
     "la stampa delle bolle (modulo DDT) si blocca al 99%."),
    ("it", "Il backup del server srv-02 non parte più dalle 02:00.\n\nSaluti\nElena\n\nInviato da iPhone\n",
     "Il backup del server srv-02 non parte più dalle 02:00."),
    ("it", "Da: domani il magazzino 5 sarà chiuso, le spedizioni partono dal 3.\nOggetto della modifica: il calendario.\n",
     "Da: domani il magazzino 5 sarà chiuso, le spedizioni partono dal 3.\nOggetto della modifica: il calendario."),
]


def heldout() -> list[Case]:
    return [Case(f"{lang}-heldout-{i}", lang, raw, expected) for i, (lang, raw, expected) in enumerate(_H)]
