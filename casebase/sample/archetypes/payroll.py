"""SYNTHETIC problem archetypes: Payroll.

Invented tickets for :mod:`casebase.sample`; see :mod:`casebase.sample.archetypes.model` for the template syntax.
"""
from __future__ import annotations

from casebase.sample.archetypes.model import collector

ARCH, A = collector()

# ----------------------------------------------------------------------------- Payroll
A("pay_rti", "Payroll", "RTI Submissions", "Error message", "crit", 3,
  ["FPS rejected by HMRC", "RTI submission failed", "Can't send FPS - pay day today", "RTI - {err}"],
  ["Our FPS for this [week's|month's] payroll has been rejected with '{err}'. Staff are due to be paid tomorrow.",
   "We can't submit the full payment submission. It gets to 'sending to HMRC' then fails with {err}. We have {employees} employees on this payroll.",
   "RTI FPS failing for {taxmonth}. Error: '{err}'. I've checked the Government Gateway password and it is correct."],
  ["We changed our accountant recently and they may have changed the gateway password.", "The EPS went through fine last month.",
   "We have a new starter this period.", "Payday is {date}."],
  [("config", "The Government Gateway credentials stored in the payroll had been changed by the accountant.",
    "Update the Government Gateway user ID and password under Company > Settings > e-Submissions, then resend the FPS from e-Submissions > Resend."),
   ("data", "An employee's NI number was in an invalid format.",
    "Correct the NI number on the employee record (or blank it and enter date of birth and address), then resubmit the FPS."),
   ("advice", "The Accounts Office reference and PAYE reference were swapped in the company settings.",
    "Check the PAYE reference (e.g. 123/AB45678) and Accounts Office reference (123PA00045678) in Company Settings, correct them and resend the FPS.")],
  errs=["Error 1046: Authentication failure", "Error 5001: The supplied values for the PAYE reference do not match",
        "Error 7843: National Insurance number format invalid",
        "The submission of this document has failed due to departmental specific business logic in the Body tag"])

A("pay_pension", "Payroll", "Pension Auto-enrolment", "Error message", "high", 2,
  ["Pension file upload rejected", "Auto enrolment assessment wrong", "{pension} contribution file error", "Pension contributions incorrect"],
  ["The contribution file we uploaded to {pension} has been rejected: '{err}'. This is for the {month} payroll.",
   "An employee who earns over the threshold hasn't been auto enrolled by the payroll, and {pension} are asking why. Can you check the assessment?",
   "Pension contributions are being calculated on total pay instead of qualifying earnings for {n} employees. It's been like this since the start of the tax year."],
  ["We re-enrolled in {month}.", "Our scheme uses qualifying earnings with 5% employee and 3% employer.",
   "We have some salary sacrifice employees."],
  [("config", "The pension scheme was set up with 'Total Pay' instead of 'Qualifying Earnings'.",
    "Edit the scheme under Pensions > Scheme Settings, set the earnings basis to Qualifying Earnings and re-run the payroll for the current period (roll back first if already updated)."),
   ("data", "",
    "Open the employee's Pensions tab, run the assessment again for the current period and tick 'Auto enrol'. Regenerate the contribution file from Pensions > Export and re-upload it.")],
  errs=["Row {n}: Contribution amount does not match pensionable earnings", "Invalid file format - missing header",
        "Employee not found in scheme"])

A("pay_p60", "Payroll", "Payroll Year End", "How to", "norm", 2,
  ["P60s not printing", "P60 figures wrong", "How do I email P60s", "P60s coming out blank"],
  ["I'm trying to print the P60s for {taxyear} but they're coming out blank apart from the employee names.",
   "One of our employees says the pay on their P60 doesn't match their last payslip, out by {amount}.",
   "Can we e-mail P60s to employees rather than printing them? We have {employees} staff."],
  ["We've already done the payroll year end.", "The employee left and was re-employed in the same year.",
   "We use the ePayslip portal for payslips."],
  [("advice", "The wrong stationery layout was selected.",
    "In Reports > Year End > P60 choose the 'P60 (Laser)' layout for plain paper rather than the pre-printed stationery layout, and preview before printing."),
   ("data", "Previous employment pay for the re-employed starter was not included.",
    "Correct the previous employment pay and tax on the employee's Year to Date tab, then reprint the P60. If the final FPS was wrong, submit an Earlier Year Update."),
   ("advice", "",
    "Use Reports > Year End > P60 and choose 'Email' - it uses the employee's e-mail address and payslip password. Test with one employee first.")],
  months=[4, 5])

A("pay_rounding", "Payroll", "Payslips", "Data problem", "norm", 2,
  ["Payslip rounding difference", "Net pay out by a penny", "Payslip figures don't add up", "Rounding on hourly paid employees"],
  ["Some of our hourly paid employees' net pay is out by 1p compared to our spreadsheet. Is it rounding?",
   "An employee has queried their payslip - gross {amount} but the elements on the payslip add up to 1p less.",
   "The payroll summary for {taxmonth} and the total of the payslips are out by a few pence. Which one is right?"],
  ["Hourly rates are held to 4 decimal places.", "It only affects {n} employees.", "Our payroll bureau used to round at total."],
  [("advice", "Rates were entered to 4 decimal places and each payment line is rounded separately.",
    "Set the hourly rate to 2 decimal places, or use Company > Settings > Rounding and choose 'Round at total'. The payroll calculation itself is correct.")])

A("pay_run_crash", "Payroll", "Payroll Processing", "Error message", "crit", 2,
  ["URGENT - payroll won't run", "Payroll crashing when updating records", "Cannot process payroll - pay day", "Payroll - {err}"],
  ["Our payroll is crashing when we click Update Records with '{err}'. It's pay day tomorrow and we need to send the BACS file today.",
   "URGENT - the payroll software closes every time we try to process this week's pay. We have {employees} staff to pay.",
   "We get '{err}' as soon as we go into Payments. Nothing has changed since last week's payroll which ran fine."],
  ["We've restarted the PC and the server.", "The data is on the server at {path}.", "We took a backup before starting this period."],
  [("data", "Corrupt index in the employee file after a network drop.",
    "Restore the backup taken before processing (or run File Maintenance > Check Data / Reindex). Then reprocess the period and update records."),
   ("fix", "Known issue in {ver} with the latest tax update.",
    "Install the latest payroll update (Help > Check for Updates), restart, then process the payroll again."),
   ("config", "A user on another PC still had the payroll open in the background.",
    "Close the other session (Tools > Active Users or Task Manager on the other PC) and delete the lock file in the data folder, then update records.")],
  errs=["Error 0x80004005 Unspecified error", "Unhandled exception: Object reference not set to an instance of an object",
        "The data files are in use by another user", "Error 91: object variable not set"])

A("pay_tax_codes", "Payroll", "Tax Codes", "How to", "low", 1,
  ["Tax code update from HMRC not applied", "P6/P9 coding notices", "DPS messages not downloading", "Wrong tax code on payslip",
   "Tax code uplift for new tax year"],
  ["We've received a tax code change for an employee from HMRC but the payroll still shows 1257L.",
   "The DPS messages aren't downloading - it says there are none, but HMRC's website shows {n} new coding notices.",
   "Can you tell me how to do the annual tax code uplift for the new tax year {taxyear}?"],
  ["We run a monthly payroll.", "Our old payroll clerk used to do this.", "The employee is on a week 1 basis."],
  [("advice", "",
    "Go to e-Submissions > DPS, click Check for Messages, then Apply. For the new tax year run Tools > Global Changes > Tax Code Uplift before processing month 1.")],
  months=[3, 4])
