"""SYNTHETIC problem archetypes: Reporting, Install / Upgrade, Licensing and System.

Invented tickets for :mod:`casebase.sample`; see :mod:`casebase.sample.archetypes.model` for the template syntax.
"""
from __future__ import annotations

from casebase.sample.archetypes.model import collector

ARCH, A = collector()

# ----------------------------------------------------------------------------- Reporting
A("rep_designer", "Reporting", "Report Designer", "How to", "low", 2,
  ["Add field to invoice layout", "Report designer - logo not showing", "Change invoice template", "Add bank details to invoice"],
  ["Can you tell me how to add the customer order number to our invoice layout? I've opened it in Report Designer but can't find the field.",
   "Our new logo isn't showing on the printed invoices, only on the preview.",
   "We need to add bank details and our VAT number to the bottom of the sales invoice. How do I do that in the report designer?"],
  ["We use the standard layout with a few changes.", "No rush on this one.", "We're rebranding next month."],
  [("advice", "",
    "Open the layout in Report Designer, expand SalesInvoice in the Data pane and drag 'CustomerOrderNumber' onto the header section. Save As a new name so the original is kept, then set it as the default layout."),
   ("config", "The logo was linked from a mapped drive rather than embedded.",
    "In Report Designer select the image, choose 'Embed image' and browse to the logo file. Save the layout and reprint.")])

A("rep_crystal", "Reporting", "Crystal Reports", "Error message", "norm", 2,
  ["Crystal report error", "Custom report failing since upgrade", "{report} report not running", "Error running Crystal report"],
  ["Our custom Crystal report '{report}' stopped working after the update. Error: '{err}'.",
   "When I run the {report} report from the Reports menu I get '{err}'. Other reports are fine.",
   "{user} gets '{err}' on the {report} report but it works on my PC."],
  ["The report was written for us by a consultant a few years ago.", "We upgraded to {ver} recently.", "We run it every Monday."],
  [("config", "The report was still pointing at the old database / ODBC DSN.",
    "Open the report in Crystal, Database > Set Datasource Location, point it at the current database ({db}), verify the database, save and re-publish."),
   ("fix", "The table was renamed in {ver}.",
    "Install the updated report pack from the partner portal, or edit the report to use the new view name."),
   ("config", "The user had no SQL permission on the reporting views.",
    "Add the user to the reporting role in System Administration > Users > Roles and grant 'Reporting' access. Log out and back in.")],
  errs=["Failed to open the connection. Details: [Database Vendor Code: 18456]", "Database logon failed",
        "Error in File {report}.rpt: The table could not be found", "ORA-00942: table or view does not exist",
        "SQL0204N \"SLCUSTOMER\" is an undefined name"])

A("rep_excel", "Reporting", "Excel Export", "Error message", "low", 2,
  ["Export to Excel not working", "Reports won't export to Excel", "Excel export error", "Exported spreadsheet blank"],
  ["When I try to export the {report} report to Excel I get '{err}'. It worked before our Office update.",
   "Exporting to Excel just opens a blank workbook. PDF export works fine.",
   "Since we moved to Office 365 the 'Send to Excel' button gives '{err}'."],
  ["It's the same on two PCs.", "We use 64-bit Office.", "I can export to CSV fine."],
  [("config", "The Office update left a broken COM registration for Excel.",
    "Run an Office Quick Repair from Control Panel > Programs, then try the export again. Export to CSV as a workaround in the meantime."),
   ("fix", "32/64-bit Office mismatch with the export component.",
    "Install the 64-bit export component from the latest update, or use File > Export > XLSX instead of Send to Excel.")],
  errs=["Export to Excel failed: Unable to cast COM object", "Excel cannot open the file because the file format or extension is not valid",
        "Error 0x800A03EC"])

A("rep_scheduled", "Reporting", "Scheduled Reports", "Error message", "low", 1,
  ["Scheduled reports not emailing", "Report scheduler stopped", "Overnight reports missing"],
  ["The overnight scheduled reports haven't been e-mailed since {date}. Nobody has changed anything as far as I know.",
   "Our daily {report} report stopped arriving in the inbox.",
   "The report scheduler service keeps stopping on the server {server}."],
  ["Our IT company did some server updates recently.", "The reports go to the directors every morning."],
  [("config", "The scheduler service account password had expired.",
    "On {server} open Services, set the Report Scheduler service to log on with a service account whose password does not expire, start it and set it to Automatic.")],
  secrets=True)

# ----------------------------------------------------------------------------- Install / Upgrade
A("inst_upgrade", "Install / Upgrade", "Upgrade", "Upgrade", "norm", 3,
  ["Upgrade to {newver}", "Booking upgrade to {newver}", "Problem after upgrading to {newver}", "Upgrade failed half way"],
  ["We'd like to upgrade to {newver} - can you confirm the steps and whether we need to update every workstation?",
   "We tried to upgrade from {ver} to {newver} last night on {server} and it failed with '{err}'. Nobody can log in this morning.",
   "The upgrade to {newver} on the server went fine but the client install on the workstations fails with '{err}'."],
  ["The server is {os}.", "The server IP is {ip}.", "We have {users} users.", "We took a full backup of the SQL database before starting."],
  [("fix", "The database upgrade script timed out because users were still connected.",
    "Restore the pre-upgrade backup, ask all users to log out, stop the application services on {server}, then rerun the database upgrade from the Server Setup utility. Install the client on each workstation afterwards."),
   ("repair", "A pending Windows update was blocking the installer (error 1603).",
    "Reboot the workstation to finish pending Windows updates, run the client installer as administrator, and pause antivirus while installing."),
   ("advice", "",
    "Upgrade the server first with the Server installer, run the database upgrade for each company, then update the workstations (the client prompts on first login). Allow about 2 hours; we can do it remotely if you book a slot.")],
  errs=["Error 1603: A fatal error occurred during installation", "Database upgrade failed at script 0412_SLCUSTOMER",
        "The company data could not be converted",
        "SQL0911N The current transaction has been rolled back because of a deadlock or timeout"],
  asks=["Could you send the install log from %TEMP% and let me know whether the database upgrade step ran?"],
  secrets=True)

A("inst_sql", "Install / Upgrade", "SQL Server", "Error message", "crit", 3,
  ["Can't connect to SQL server", "Nobody can log in - SQL error", "System down - database connection error", "{err}"],
  ["Nobody in the office can log in this morning. We get '{err}'. The server is {server} ({ip}).",
   "We are getting '{err}' when opening the company. The SQL instance is {server}\\SQLEXPRESS, connection string is Server={server};Database={db};User Id=sa;Password={pwd}",
   "After IT changed the sa password we can't get into the software: '{err}'. The new password: {pwd}",
   "System down! '{err}' on every PC. SQL server is {server} on {ip}, login sa pwd={pwd}"],
  ["Our IT provider rebooted the server last night.", "We can ping the server from the workstations.",
   "Everything is down - {users} users can't work.", "We can log in on the server itself but not from the workstations."],
  [("config", "The SQL Server service was set to Manual and didn't start after the server reboot.",
    "On {server} open SQL Server Configuration Manager, start the SQL Server (SQLEXPRESS) service and set it to Automatic. Check the SQL Browser service is running too."),
   ("config", "The sa password had been changed in SQL but not in the application's connection settings.",
    "Run the Database Connection utility on {server}, update the SQL login credentials and ask users to log in again. We recommend changing the password again as it was sent by e-mail."),
   ("config", "Windows Firewall was blocking TCP 1433 after a Windows update.",
    "Add inbound rules for TCP 1433 and UDP 1434 on {server} (or the dynamic port of the named instance) and restart the SQL Browser service.")],
  errs=["SQL Server error 18456: Login failed for user 'sa'",
        "[DBNETLIB][ConnectionOpen (Connect()).]SQL Server does not exist or access denied.",
        "A network-related or instance-specific error occurred while establishing a connection to SQL Server",
        "Error 0x80004005: Timeout expired",
        "SQL0911N The current transaction has been rolled back because of a deadlock or timeout. Reason code \"2\"."],
  secrets=True)

A("inst_migration", "Install / Upgrade", "Data Migration", "Installation", "norm", 1,
  ["Moving data to new server", "Server migration - need help", "Data migration to new server", "New server - move company data"],
  ["We're replacing our server {server} next weekend. What do we need to do to move the company data and licences to the new one?",
   "We've moved the data to the new server ({ip}) but the workstations are still looking at the old path {path}.",
   "Our IT company copied the data folder to the new server but now we get '{err}' when logging in."],
  ["The new server is {os}.", "Our IT support is external.", "We'd like to do it out of hours."],
  [("config", "",
    "On each workstation update the data path (or re-run the client install pointing at the new share on {server}), and re-register the licence on the server. The share needs Full Control for the users group."),
   ("advice", "",
    "Take a backup on the old server, install the server components on the new server, restore the backup, then repoint the workstations. We can book a remote session to do this out of hours.")],
  errs=["Error 0x80004005 Unspecified error", "Data path not found", "The company data is read-only"], secrets=True)

A("inst_client", "Install / Upgrade", "Installation", "Installation", "norm", 2,
  ["Install failing on new PC", "Error installing client", "Can't install software on new laptop", "Workstation install error"],
  ["We're trying to install the software on a new laptop for {user} and it fails near the end with '{err}'.",
   "Installing the {product} client on a new PC gives '{err}' and rolls back.",
   "I've got a new starter on Monday and I [can't|cannot] get the software installed - {err}."],
  ["The laptop is Windows 11.", "We're installing as a local administrator.", "Other PCs installed fine."],
  [("repair", "Missing .NET Framework 4.8 / Visual C++ runtime.",
    "Install .NET Framework 4.8 and the latest Visual C++ redistributables, reboot, then run the installer as administrator with antivirus paused."),
   ("repair", "A previous partial install was left in the registry.",
    "Use the Microsoft Install/Uninstall troubleshooter to remove the failed install, delete the program folder, reboot and reinstall.")],
  errs=["Error 1603: A fatal error occurred during installation", "Error 1722: There is a problem with this Windows Installer package",
        "Error 1935: An error occurred during the installation of assembly", ".NET Framework 4.8 is required"])

# ----------------------------------------------------------------------------- Licensing
A("lic_activation", "Licensing", "Licence Activation", "Licensing", "high", 2,
  ["Licence activation failed", "Software says licence expired", "Activation key not accepted", "Licence error on login"],
  ["When we logged in this morning it said '{err}'. We renewed our subscription last month.",
   "We've been sent a new activation key but it won't accept it - '{err}'.",
   "After moving to the new server the software says '{err}' and has gone into read-only mode."],
  ["Our serial number is on the renewal invoice.", "It affects all {users} users.", "We can't post anything."],
  [("licence", "The renewal hadn't been applied to the licence on the server.",
    "Go to Help > About > Refresh Licence (or re-enter the serial number and activation key on the server). Activation completed and all users could log in."),
   ("licence", "The licence was tied to the old server's machine ID.",
    "Released the licence from the old server via the licensing portal and re-activated it on {server}.")],
  errs=["Activation key is invalid", "Your licence has expired. Please contact your reseller",
        "Licence server could not be contacted", "Error 401: Unable to validate serial number"])

A("lic_users", "Licensing", "User Licences", "Licensing", "norm", 2,
  ["User count exceeded", "Maximum number of users reached", "Can't log in - licence limit", "Need an extra user licence"],
  ["People are getting '{err}' but there are only {n1} of us logged in.",
   "We need to add a new user for {user} who starts next week, how much is an extra licence?",
   "Users are being kicked out with '{err}' at random times."],
  ["We have {users} licences.", "Some people work from home on the VPN.", "A couple of PCs crashed yesterday."],
  [("config", "Sessions from PCs that crashed were still holding licences.",
    "Clear the stale sessions in System Administration > Logged In Users and ask users to close the software properly rather than shutting down."),
   ("licence", "", "Raised an order for an additional user, applied the updated licence and refreshed it on the server.")],
  errs=["The maximum number of users are already logged in", "Licence user limit exceeded",
        "No more concurrent licences available"])

A("lic_module", "Licensing", "Modules", "Licensing", "low", 1,
  ["Module greyed out", "Can't access new module after purchase", "Licence doesn't include module"],
  ["We've just purchased the Project Accounting module but it is still greyed out.",
   "The Manufacturing menu has disappeared since the licence renewal.",
   "We bought extra modules last week - how do we switch them on?"],
  ["The invoice for the module has been paid.", "Our account manager confirmed the order."],
  [("licence", "", "Refreshed the licence to pick up the new module, then enabled it in System Administration > Company > Features.")])

# ----------------------------------------------------------------------------- System
A("sys_slow", "System", "Performance", "Performance", "high", 3,
  ["System running very slowly", "Performance issues", "Software slow to open", "Everything slow since update"],
  ["The system has been very slow for the last couple of days. Posting an invoice takes about a minute and reports are timing out.",
   "It takes over 5 minutes to open the company in the morning. {users} users are affected.",
   "Since the update, searching for a customer takes ages. Other programs on the PC are fine."],
  ["The database is about {n} GB.", "Our server is {server}.", "IT say the server is fine.",
   "It seems better first thing and gets worse during the day."],
  [("config", "SQL Server was using all the memory on the server.",
    "Set SQL Server max server memory to leave 4 GB for Windows, rebuild indexes with a maintenance plan and restart the service out of hours."),
   ("config", "Antivirus was scanning the data folder on every access.",
    "Exclude the data folder ({path}) and the program folder from on-access scanning."),
   ("data", "The audit trail had grown very large.",
    "After the year end and with a backup, run Clear Audit Trail, then File > Maintenance > Compress/Reindex.")],
  secrets=True)

A("sys_locked_out", "System", "Users and Passwords", "How to", "high", 2,
  ["User locked out", "Forgotten password", "Reset manager password", "Can't log in - account locked"],
  ["{user} has locked themselves out after too many attempts. Can you reset it please?",
   "Our MANAGER password has been forgotten and the person who knew it has left. We need to get back in.",
   "I've reset a user's password to password: {pwd} but they still can't log in - it says the account is locked."],
  ["It's month end so we really need access.", "I'm the system administrator now."],
  [("config", "", "Log in to System Administration as an administrator, unlock the user and set a temporary password with 'change at next login' ticked. Please don't send passwords by e-mail."),
   ("advice", "The administrator password was unknown.",
    "Verified the caller's identity with the account's authorised contact and issued a reset code. Enter it at the login screen (Forgotten Password > Reset Code) and set a new administrator password.")],
  secrets=True)

A("sys_check_data", "System", "Data Integrity", "Data problem", "norm", 2,
  ["Check data errors", "Data corruption errors", "File maintenance reports errors", "Corrupt data after power cut"],
  ["We ran check data and it's showing {n} errors including '{err}'. Can you help fix them?",
   "We had a power cut yesterday and now the software gives '{err}' when posting.",
   "File maintenance is reporting errors and warnings. Is it safe to carry on using the data?"],
  ["The data is at {path}.", "We have backups every night.", "Nobody has noticed any wrong figures yet."],
  [("data", "", "Take a backup and run File Maintenance > Check Data, then Fix. The remaining errors were repaired by the data service team on a copy of the data, which was sent back and restored."),
   ("data", "Corruption caused by the power cut.", "Restore the last good backup from before the power cut and re-enter the day's transactions.")],
  errs=["Header record 1234 is not the first in the split chain", "Audit trail transaction {n} has an invalid nominal code",
        "Error 12: Index is corrupt", "Error 0x80004005 Unspecified error"])
