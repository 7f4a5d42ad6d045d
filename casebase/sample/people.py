"""People, companies, products and the support desk of the SYNTHETIC helpdesk sample.

All invented: no real person or customer is described. Product names are used only to make the texts read like a
real ERP reseller's support desk.
"""
from __future__ import annotations

FIRST_NAMES = (
    "Aimee", "Alistair", "Amelia", "Ben", "Bethan", "Callum", "Carys", "Chloe", "Craig", "Daniel", "Dawn", "Declan",
    "Eleanor", "Elliot", "Emma", "Fiona", "Freya", "Gavin", "Gemma", "Hamish", "Harriet", "Imogen", "Isaac", "Jade",
    "Jamie", "Janet", "Joel", "Karen", "Kieran", "Laura", "Leanne", "Lewis", "Lorna", "Martin", "Megan", "Morag",
    "Nathan", "Nicola", "Owen", "Paula", "Phoebe", "Rachel", "Rhys", "Rosie", "Ruth", "Ryan", "Sandra", "Scott",
    "Shona", "Simon", "Sophie", "Stuart", "Tamsin", "Tessa", "Toby", "Trevor", "Vicky", "Wendy", "Yasmin", "Zoe",
)
SURNAMES = (
    "Ashworth", "Bannister", "Blakemore", "Brindley", "Calloway", "Catterall", "Cheetham", "Colquhoun", "Crowther",
    "Dunmore", "Eccleston", "Fairbairn", "Fenwick", "Gilchrist", "Greenhalgh", "Hargreaves", "Haworth", "Hepburn",
    "Illingworth", "Jowett", "Kettering", "Lambourne", "Lomax", "Maddocks", "Marsden", "McAllister", "Merriman",
    "Nuttall", "Ollerton", "Pennington", "Pickering", "Prothero", "Quigley", "Radcliffe", "Rawlinson", "Redfern",
    "Rothwell", "Sandiford", "Scholes", "Shackleton", "Sowerby", "Stansfield", "Sutcliffe", "Tattersall", "Thwaite",
    "Tindall", "Underwood", "Varley", "Wadsworth", "Walmsley", "Warburton", "Whitworth", "Wilberforce", "Winstanley",
    "Worsley", "Yardley", "Ainsworth", "Birtwistle", "Cropper", "Entwistle",
)
JOB_TITLES = (
    "Finance Manager", "Accounts Assistant", "Financial Controller", "Bookkeeper", "Payroll Administrator",
    "Office Manager", "Credit Controller", "Finance Director", "Operations Manager", "IT Manager",
    "Purchase Ledger Clerk", "Accounts Payable", "Managing Director", "Stock Controller", "Sales Administrator",
    "Company Secretary", "HR & Payroll Officer", "Management Accountant", "Production Planner", "Practice Manager",
)
COMPANY_WORDS = (
    "Harwood", "Ashby", "Kestrel", "Millbrook", "Pennine", "Calder", "Riverside", "Oakfield", "Brackenridge", "Thornbury",
    "Greystone", "Fernlea", "Highgate", "Lindley", "Marlow", "Northbank", "Ravensworth", "Saltaire", "Tanfield", "Westcroft",
    "Bramley", "Cotswold", "Dalesway", "Elmstead", "Foxhollow", "Glenmoor", "Hollins", "Ivybridge", "Juniper", "Kingsmead",
    "Langstone", "Moorside", "Netherby", "Orchard", "Priory", "Quarry Hill", "Redbrook", "Stonebridge", "Tarnside", "Upton",
    "Valley", "Wharfedale", "Yewtree", "Alder", "Beacon", "Copper Beech", "Drayton", "Eastgate", "Falcon", "Granary",
    "Heron", "Ironbridge", "Kiln", "Lark", "Meadowbank", "Newfield", "Oldroyd", "Parkway", "Rowan", "Sandstone",
)
COMPANY_TRADES = (
    "Joinery", "Logistics", "Engineering", "Foods", "Plastics", "Builders Merchants", "Dental Practice", "Print",
    "Electrical", "Fabrications", "Packaging", "Garden Centre", "Veterinary Group", "Motors", "Textiles", "Brewery",
    "Precision", "Hire", "Roofing", "Care Homes", "Interiors", "Scaffolding", "Coachworks", "Laboratories", "Timber",
    "Homes", "Distribution", "Pharmacy", "Hydraulics", "Signs", "Plumbing Supplies", "Farm Supplies", "Windows",
    "Catering", "Bakery", "Landscapes", "Controls", "Cabinets", "Flooring", "Tooling",
)
COMPANY_SUFFIXES = ("Ltd", "Ltd", "Ltd", "Limited", "& Sons Ltd", "Group Ltd", "UK Ltd", "LLP", "plc", "(Holdings) Ltd")
FREEMAIL = ("btinternet.com", "outlook.com", "gmail.com")

PRODUCTS = (
    # name, versions oldest..newest, data path template
    ("Sage 200", ("2022 R2", "2023 R1", "2023 R2", "2024 R1", "2024 R2"), r"\\{server}\Sage\Sage200Shared"),
    ("Sage 50 Accounts", ("v28.0", "v29.1", "v30.0", "v30.1", "v31.1"), r"C:\ProgramData\Sage\Accounts\{year}\COMPANY.000"),
    ("Sage 50 Accounts", ("v28.0", "v29.1", "v30.0", "v30.1", "v31.1"), r"\\{server}\Accounts\Company.00{n1}"),
    ("Sage X3", ("V12 Patch 28", "2023 R2", "2024 R1", "2024 R2"), r"D:\Sage\X3\folders\{abbr}LIVE"),
)
OSES = ("Windows Server 2016", "Windows Server 2019", "Windows Server 2022", "SBS 2011 (I know!)")
BANKS = ("Barclays", "NatWest", "Lloyds", "HSBC", "Santander", "Metro Bank", "Bank of Scotland", "Starling", "Tide")
IBAN_BANKS = ("NWBK", "BARC", "LOYD", "HBUK", "MIDL", "ABBY", "TSBS", "SRLG")
PENSIONS = ("NEST", "The People's Pension", "Smart Pension", "Aviva", "Scottish Widows", "Royal London")
REPORTS = ("Aged Debtors Summary", "Stock Movements", "Sales by Rep", "Daily Cash", "Margin Analysis", "Open Orders",
           "Customer Statements", "Nominal Activity", "Weekly KPI", "Purchase Commitments", "Trial Balance by Dept")
STOCK_CODES = ("BOLT-M8-50", "PAL-EURO", "CAB-3C-25M", "HNG-BRASS-75", "PVC-110-3M", "WID-0042", "SKU-10492",
               "TIM-47X100", "LBL-A4-21", "FLT-OIL-220", "BRK-PAD-F", "GLV-NIT-L", "PNT-WHT-5L", "SCR-4X40-BX")
SERVER_NAMES = ("{abbr}-SRV01", "SQL01", "{abbr}-SQL", "FS01", "{abbr}DC01", "SRV-FIN-02", "APPSERVER", "{abbr}-TS01")

AGENTS = (  # user id, first, last, title
    ("U6UJ9A000001", "Rob", "Hallam", "Senior Support Consultant"),
    ("U6UJ9A000002", "Sian", "Marlow", "Support Consultant"),
    ("U6UJ9A000003", "Gareth", "Pryce", "Technical Consultant"),
    ("U6UJ9A000004", "Nadia", "Okonedo", "Payroll Consultant"),
    ("U6UJ9A000005", "Luke", "Brennan", "Support Consultant"),
    ("U6UJ9A000006", "Hannah", "Colby", "Support Team Leader"),
    ("U6UJ9A000007", "Dev", "Ramsay", "Technical Consultant"),
    ("U6UJ9A00000A", "Ellie", "Fairweather", "Support Consultant"),
    ("U6UJ9A00000B", "Marcus", "Thorne", "Applications Consultant"),
    ("U6UJ9A00000C", "Cara", "Lindqvist", "Support Analyst"),
    ("U6UJ9A00000F", "Owain", "Bevan", "Support Analyst"),
    ("U6UJ9A00000K", "Priya", "Sandhu", "Senior Technical Consultant"),
)
DESK = "Fernbrook Business Systems"
DESK_DOMAIN = "fernbrook-bs.co.uk"
