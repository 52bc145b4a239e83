"""Generate synthetic monthly CNPJ dumps in the Receita Federal open-data format.

A generated month has the file names, member names, encoding and quoting of a
real delivery: ISO-8859-1, ``;`` separated, every field double-quoted, LF line
ends, no header, and one CSV member per zip named as in the real dump. Code
mixes and data quirks follow measurements of real deliveries, so the product's
default run, the tests and the ingestion benchmark work without downloading
the multi-gigabyte dump. Names, CPFs and contacts are random combinations, not
records of real people.

Rows are written in batches as they are generated, so memory stays flat for
any size (about 40 MB per process). Large months are split over worker
processes, one part each at a time. The same arguments give byte-identical
files on the same Python version, whatever the number of workers (Python
guarantees only ``random()``'s sequence across versions, and this module also
uses ``getrandbits``).

Usage::

    python -m adapters.receita.synthetic OUT_DIR --establishments 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import functools
import math
import os
import pickle
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from random import Random
from typing import IO, TypeVar

import attrs

from domain.cnpj import check_digits

# ---------------------------------------------------------------------------
# Public result types
# ---------------------------------------------------------------------------

#: File kinds of a month, in the order Receita lists them, plus the Tesouro
#: Nacional municipality table that ingestion downloads next to the dump.
FILE_KINDS = (
    "companies",
    "establishments",
    "partners",
    "simples",
    "cnaes",
    "reasons",
    "municipalities",
    "legal_natures",
    "countries",
    "qualifications",
    "tabmun",
)

#: Broken records that ``faults=True`` writes into the Estabelecimentos files.
FAULT_KINDS = (
    "missing_field",
    "line_break",
    "nul_byte",
    "invalid_check_digit",
    "duplicate_row",
    "trailing_empty_line",
)


@attrs.frozen
class InjectedFault:
    """A deliberately broken record written by ``generate_month(faults=True)``."""

    kind: str
    #: The zip (or plain member file) that contains the record.
    path: Path
    #: The 14-character CNPJ as written in the record, or None for the empty line.
    cnpj: str | None


@attrs.frozen
class GeneratedMonth:
    """Files written for one synthetic month and the number of records in each kind.

    ``rows`` counts records as a quote-aware CSV reader sees them: a record with
    a line break inside a quoted field counts once, the trailing empty line of
    ``faults=True`` does not count, and the other broken records do.
    """

    directory: Path
    reference: str
    #: Receita's extraction code used in member names, such as ``D61108``.
    extraction_code: str
    seed: int
    paths: Mapping[str, tuple[Path, ...]]
    rows: Mapping[str, int]
    faults: tuple[InjectedFault, ...] = ()

    @property
    def companies(self) -> int:
        return self.rows["companies"]

    @property
    def establishments(self) -> int:
        return self.rows["establishments"]

    @property
    def partners(self) -> int:
        return self.rows["partners"]

    @property
    def simples(self) -> int:
        return self.rows["simples"]

    @property
    def source_rows(self) -> int:
        """Records in the four large files, the figure ingestion throughput is quoted in."""
        return self.companies + self.establishments + self.partners + self.simples

    @property
    def fault_count(self) -> int:
        return len(self.faults)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every written file, in ``FILE_KINDS`` order."""
        return tuple(path for kind in FILE_KINDS for path in self.paths[kind])

    def __str__(self) -> str:
        """Summarise the month in one line: reference and records of the large files."""
        return (
            f"{self.reference} ({self.extraction_code}): {self.companies} companies, "
            f"{self.establishments} establishments, {self.partners} partners, "
            f"{self.simples} Simples rows, {self.fault_count} broken records"
        )


# ---------------------------------------------------------------------------
# Reference data: real codes, names and descriptions
# ---------------------------------------------------------------------------

#: Population of each UF in millions after the 2022 census, rounded; entered by
#: hand, so treat them as approximate. Establishments are spread over the
#: states in these proportions.
_UF_POPULATION = {
    "SP": 44.41, "MG": 20.54, "RJ": 16.05, "BA": 14.14, "PR": 11.44, "RS": 10.88,
    "PE": 9.06, "CE": 8.79, "PA": 8.12, "SC": 7.61, "GO": 7.06, "MA": 6.78,
    "PB": 3.97, "AM": 3.94, "ES": 3.83, "MT": 3.66, "RN": 3.30, "PI": 3.27,
    "AL": 3.13, "DF": 2.82, "MS": 2.76, "SE": 2.21, "RO": 1.58, "TO": 1.51,
    "AC": 0.83, "AP": 0.73, "RR": 0.64,
}  # fmt: skip

#: Share of a state's establishments placed in its capital; the rest is split
#: evenly over the state's other listed municipalities. An estimate.
_CAPITAL_SHARE = 0.4

#: The 27 capitals (first per UF) and 66 other large municipalities:
#: (Receita/SIAFI TOM code, Receita name, UF, IBGE code, CNPJ of the prefeitura
#: in the Tesouro table, area code, first and last 5-digit CEP prefix). Codes,
#: names and CNPJs come from Receita's Municipios table joined with Tesouro
#: Nacional's tabmun.csv. Area codes and CEP ranges were entered by hand and
#: the ranges are approximate.
_MUNICIPALITIES = (
    ("0003", "PORTO VELHO", "RO", "1100205", "05903125000145", "69", 76800, 76834),
    ("0139", "RIO BRANCO", "AC", "1200401", "04034583000122", "68", 69900, 69923),
    ("0255", "MANAUS", "AM", "1302603", "04365326000173", "92", 69000, 69099),
    ("0301", "BOA VISTA", "RR", "1400100", "05943030000155", "95", 69300, 69339),
    ("0427", "BELEM", "PA", "1501402", "05055009000113", "91", 66000, 66999),
    ("0605", "MACAPA", "AP", "1600303", "05995766000177", "96", 68900, 68914),
    ("9733", "PALMAS", "TO", "1721000", "24851511000185", "63", 77000, 77270),
    ("0921", "SAO LUIS", "MA", "2111300", "06307102000130", "98", 65000, 65109),
    ("1219", "TERESINA", "PI", "2211001", "06554869000164", "86", 64000, 64099),
    ("1389", "FORTALEZA", "CE", "2304400", "07954605000160", "85", 60000, 61599),
    ("1761", "NATAL", "RN", "2408102", "08241747000143", "84", 59000, 59161),
    ("2051", "JOAO PESSOA", "PB", "2507507", "08778326000156", "83", 58000, 58099),
    ("2531", "RECIFE", "PE", "2611606", "10565000000192", "81", 50000, 52999),
    ("2785", "MACEIO", "AL", "2704302", "12200135000180", "82", 57000, 57099),
    ("3105", "ARACAJU", "SE", "2800308", "13128780000100", "79", 49000, 49099),
    ("3849", "SALVADOR", "BA", "2927408", "13927801000149", "71", 40000, 42499),
    ("4123", "BELO HORIZONTE", "MG", "3106200", "18715383000140", "31", 30000, 31999),
    ("5705", "VITORIA", "ES", "3205309", "27142058000126", "27", 29000, 29099),
    ("6001", "RIO DE JANEIRO", "RJ", "3304557", "42498733000148", "21", 20000, 23799),
    ("7107", "SAO PAULO", "SP", "3550308", "46395000000139", "11", 1000, 5999),
    ("7535", "CURITIBA", "PR", "4106902", "76417005000186", "41", 80000, 82999),
    ("8105", "FLORIANOPOLIS", "SC", "4205407", "82892282000143", "48", 88000, 88099),
    ("8801", "PORTO ALEGRE", "RS", "4314902", "92963560000160", "51", 90000, 91999),
    ("9051", "CAMPO GRANDE", "MS", "5002704", "03501509000106", "67", 79000, 79124),
    ("9067", "CUIABA", "MT", "5103403", "03533064000146", "65", 78000, 78099),
    ("9373", "GOIANIA", "GO", "5208707", "01612092000123", "62", 74000, 74899),
    ("9701", "BRASILIA", "DF", "5300108", "26994533000120", "61", 70000, 72799),
    ("6291", "CAMPINAS", "SP", "3509502", "51885242000140", "19", 13000, 13139),
    ("6477", "GUARULHOS", "SP", "3518800", "46319000000150", "11", 7000, 7399),
    ("7057", "SANTO ANDRE", "SP", "3547809", "46522942000130", "11", 9000, 9299),
    ("7075", "SAO BERNARDO DO CAMPO", "SP", "3548708", "46523239000147", "11", 9600, 9899),
    ("6789", "OSASCO", "SP", "3534401", "46523171000104", "11", 6000, 6299),
    ("6969", "RIBEIRAO PRETO", "SP", "3543402", "56024581000156", "16", 14000, 14114),
    ("7145", "SOROCABA", "SP", "3552205", "46634044000174", "15", 18000, 18109),
    ("7099", "SAO JOSE DOS CAMPOS", "SP", "3549904", "46643466000106", "12", 12200, 12248),
    ("7071", "SANTOS", "SP", "3548500", "58200015000183", "13", 11000, 11099),
    ("6619", "JUNDIAI", "SP", "3525904", "45780103000150", "11", 13200, 13219),
    ("6875", "PIRACICABA", "SP", "3538709", "46341038000129", "19", 13400, 13427),
    ("6219", "BAURU", "SP", "3506003", "46137410000180", "14", 17000, 17109),
    ("7097", "SAO JOSE DO RIO PRETO", "SP", "3549805", "46588950000180", "17", 15000, 15099),
    ("5403", "UBERLANDIA", "MG", "3170206", "18431312000115", "34", 38400, 38415),
    ("4371", "CONTAGEM", "MG", "3118601", "18715508000131", "31", 32000, 32399),
    ("4733", "JUIZ DE FORA", "MG", "3136702", "18338178000102", "32", 36000, 36099),
    ("4133", "BETIM", "MG", "3106705", "18715391000196", "31", 32500, 32699),
    ("4865", "MONTES CLAROS", "MG", "3143302", "22678874000135", "38", 39400, 39409),
    ("5865", "NITEROI", "RJ", "3303302", "28521748000159", "21", 24000, 24399),
    ("5833", "DUQUE DE CAXIAS", "RJ", "3301702", "29138328000150", "21", 25000, 25249),
    ("5869", "NOVA IGUACU", "RJ", "3303500", "29138278000101", "21", 26000, 26099),
    ("5897", "SAO GONCALO", "RJ", "3304904", "28636579000100", "21", 24400, 24799),
    ("5877", "PETROPOLIS", "RJ", "3303906", "29138344000143", "24", 25600, 25779),
    ("7667", "LONDRINA", "PR", "4113700", "75771477000170", "43", 86000, 86099),
    ("7691", "MARINGA", "PR", "4115200", "76282656000106", "44", 87000, 87099),
    ("7777", "PONTA GROSSA", "PR", "4119905", "76175884000187", "42", 84000, 84099),
    ("7493", "CASCAVEL", "PR", "4104808", "76208867000107", "45", 85800, 85819),
    ("8599", "CAXIAS DO SUL", "RS", "4305108", "88830609000139", "54", 95000, 95124),
    ("8791", "PELOTAS", "RS", "4314407", "87455531000157", "53", 96000, 96099),
    ("8589", "CANOAS", "RS", "4304606", "88577416000118", "51", 92000, 92449),
    ("8841", "SANTA MARIA", "RS", "4316907", "88488366000100", "55", 97000, 97119),
    ("8179", "JOINVILLE", "SC", "4209102", "83169623000110", "47", 89200, 89239),
    ("8047", "BLUMENAU", "SC", "4202404", "83108357000115", "47", 89000, 89099),
    ("8081", "CHAPECO", "SC", "4204202", "83021808000182", "49", 89800, 89816),
    ("8161", "ITAJAI", "SC", "4208203", "83102277000152", "47", 88300, 88319),
    ("3515", "FEIRA DE SANTANA", "BA", "2910800", "14043574000151", "75", 44000, 44119),
    ("3965", "VITORIA DA CONQUISTA", "BA", "2933307", "14239578000100", "77", 45000, 45099),
    ("3413", "CAMACARI", "BA", "2905701", "14109763000180", "71", 42800, 42849),
    ("3597", "ITABUNA", "BA", "2914802", "14147490000168", "73", 45600, 45612),
    ("2457", "JABOATAO DOS GUARARAPES", "PE", "2607901", "10377679000196", "81", 54000, 54599),
    ("2381", "CARUARU", "PE", "2604106", "10091536000113", "81", 55000, 55099),
    ("2521", "PETROLINA", "PE", "2611101", "10358190000177", "87", 56300, 56339),
    ("1373", "CAUCAIA", "CE", "2303709", "07616162000106", "85", 61600, 61699),
    ("1447", "JUAZEIRO DO NORTE", "CE", "2307304", "07974082000114", "88", 63000, 63099),
    ("9227", "APARECIDA DE GOIANIA", "GO", "5201405", "01005727000124", "62", 74900, 74999),
    ("9221", "ANAPOLIS", "GO", "5201108", "01067479000146", "62", 75000, 75149),
    ("0415", "ANANINDEUA", "PA", "1500800", "05058441000168", "91", 67000, 67199),
    ("0535", "SANTAREM", "PA", "1506807", "05182233000176", "93", 68000, 68109),
    ("0803", "IMPERATRIZ", "MA", "2105302", "06158455000116", "99", 65900, 65919),
    ("5703", "VILA VELHA", "ES", "3205200", "27165554000103", "27", 29100, 29129),
    ("5699", "SERRA", "ES", "3205002", "27174093000127", "27", 29160, 29184),
    ("5625", "CARIACICA", "ES", "3201308", "27150549000119", "27", 29140, 29159),
    ("9167", "VARZEA GRANDE", "MT", "5108402", "03507548000110", "65", 78110, 78159),
    ("9151", "RONDONOPOLIS", "MT", "5107602", "03347101000121", "66", 78700, 78749),
    ("9073", "DOURADOS", "MS", "5003702", "03155926000144", "67", 79800, 79849),
    ("0269", "PARINTINS", "AM", "1303403", "04329736000169", "92", 69150, 69153),
    ("1981", "CAMPINA GRANDE", "PB", "2504009", "08993917000146", "83", 58400, 58499),
    ("1759", "MOSSORO", "RN", "2408003", "08348971000139", "84", 59600, 59649),
    ("2705", "ARAPIRACA", "AL", "2700300", "12198693000158", "82", 57300, 57319),
    ("1153", "PARNAIBA", "PI", "2207702", "06554430000131", "86", 64200, 64219),
    ("3195", "NOSSA SENHORA DO SOCORRO", "SE", "2804805", "13128814000158", "79", 49160, 49169),
    ("9241", "ARAGUAINA", "TO", "1702109", "01830793000139", "63", 77800, 77829),
    ("0005", "JI-PARANA", "RO", "1100122", "04092672000125", "69", 76900, 76915),
    ("0107", "CRUZEIRO DO SUL", "AC", "1200203", "04012548000102", "68", 69980, 69981),
    ("0615", "SANTANA", "AP", "1600600", "23066640000108", "96", 68925, 68929),
    ("0036", "RORAINOPOLIS", "RR", "1400472", "01613031000180", "95", 69373, 69375),
)

#: Receita's municipality code and name for establishments abroad (uf ``EX``).
#: Tesouro's tabmun.csv has no row for it.
_ABROAD_MUNICIPALITY = ("9707", "EXTERIOR")

#: Share of establishments located abroad (uf EX, municipality 9707, no CEP).
_ABROAD_SHARE = 0.002

#: Foreign cities and their Receita country code, for establishments abroad.
_ABROAD_CITIES = (
    ("DOVER", "249"), ("WILMINGTON", "249"), ("MIAMI", "249"), ("", "249"),
    ("BELIZE CITY", "088"), ("LISBOA", "607"), ("PORTO", "607"), ("BUENOS AIRES", "063"),
    ("MADRID", "245"), ("HONG KONG", "351"), ("", "351"), ("LONDON", "628"),
)  # fmt: skip

#: Receita country codes (Paises table) used by the generator.
_COUNTRIES = (
    ("023", "ALEMANHA"),
    ("063", "ARGENTINA"),
    ("087", "BELGICA"),
    ("088", "BELISE"),
    ("105", "BRASIL"),
    ("158", "CHILE"),
    ("160", "China, República Popular"),
    ("245", "ESPANHA"),
    ("249", "ESTADOS UNIDOS"),
    ("275", "FRANCA"),
    ("351", "HONG-KONG"),
    ("386", "ITALIA"),
    ("399", "JAPAO"),
    ("493", "MEXICO"),
    ("607", "PORTUGAL"),
    ("628", "REINO UNIDO"),
)

#: Receita legal natures (Naturezas table) used by the generator.
_LEGAL_NATURES = (
    ("2135", "Empresário (Individual)"),
    ("2062", "Sociedade Empresária Limitada"),
    ("2240", "Sociedade Simples Limitada"),
    ("2305", "Empresa Individual de Responsabilidade Limitada (de Natureza Empresária)"),
    ("2321", "Sociedade Unipessoal de Advocacia"),
    ("2054", "Sociedade Anônima Fechada"),
    ("2046", "Sociedade Anônima Aberta"),
    ("2143", "Cooperativa"),
    ("3999", "Associação Privada"),
    ("3085", "Condomínio Edilício"),
    ("3220", "Organização Religiosa"),
    ("4120", "Produtor Rural (Pessoa Física)"),
    ("2127", "Sociedade em Conta de Participação"),
    ("4090", "Candidato a Cargo Político Eletivo"),
    ("1244", "Município"),
    ("1031", "Órgão Público do Poder Executivo Municipal"),
    ("3034", "Serviço Notarial e Registral (Cartório)"),
)

#: Receita partner and manager qualifications (Qualificacoes table) used here.
_QUALIFICATIONS = (
    ("00", "Não informada"),
    ("05", "Administrador"),
    ("10", "Diretor"),
    ("14", "Mãe"),
    ("15", "Pai"),
    ("16", "Presidente"),
    ("17", "Procurador"),
    ("19", "Síndico (Condomínio)"),
    ("22", "Sócio"),
    ("30", "Sócio Menor (Assistido/Representado)"),
    ("32", "Tabelião"),
    ("37", "Sócio Pessoa Jurídica Domiciliado no Exterior"),
    ("38", "Sócio Pessoa Física Residente no Exterior"),
    ("49", "Sócio-Administrador"),
    ("50", "Empresário"),
    ("51", "Candidato a cargo Político Eletivo"),
    ("59", "Produtor Rural"),
    ("65", "Titular Pessoa Física Residente ou Domiciliado no Brasil"),
)

#: Receita status reasons (Motivos table) used by the generator. Reason 32
#: also appears in the data, as in real deliveries, but is absent from
#: Receita's Motivos table, so it is absent here too.
_REASONS = (
    ("00", "SEM MOTIVO"),
    ("01", "EXTINCAO POR ENCERRAMENTO LIQUIDACAO VOLUNTARIA"),
    ("02", "INCORPORACAO"),
    ("05", "ENCERRAMENTO DA FALENCIA"),
    ("09", "NAO INICIO DE ATIVIDADE"),
    ("18", "INTERRUPCAO TEMPORARIA DAS ATIVIDADES"),
    ("21", "PEDIDO DE BAIXA INDEFERIDA"),
    ("37", "BAIXA DE PRODUTOR RURAL"),
    (
        "54",
        "EXTINCAO - TRATAMENTO DIFERENCIADO DADO AS ME E EPP (LEI COMPLEMENTAR NUMERO 123/2006)",
    ),
    ("63", "OMISSAO DE DECLARACOES"),
    ("67", "REGISTRO CANCELADO"),
    ("70", "ANULACAO POR NAO CONFIRMADO ATO DE REGISTRO DO MEI NA JUNTA COMERCIAL"),
    ("71", "INAPTIDAO (LEI 11.941/2009 ART.54)"),
    ("73", "COOMISSAO CONTUMAZ"),
    ("75", "OBITO DO MEI - TITULAR FALECIDO"),
    ("82", "SUSPENSO PERANTE A COMISSAO DE VALORES MOBILIARIOS - CVM"),
)

#: Registration status (situação cadastral) weights: 02 ativa, 08 baixada,
#: 04 inapta, 03 suspensa, 01 nula. Close to a 1,600-row sample of the
#: December 2025 delivery (46% 08, 42% 02, 11% 04).
_STATUSES = (("02", 0.42), ("08", 0.46), ("04", 0.11), ("03", 0.008), ("01", 0.002))

#: Reason weights per status, after the same sample.
_REASONS_BY_STATUS = {
    "02": (("00", 1.0),),
    "08": (
        ("01", 0.79), ("71", 0.08), ("67", 0.05), ("73", 0.03), ("75", 0.012),
        ("54", 0.012), ("02", 0.012), ("37", 0.01), ("09", 0.006), ("05", 0.002),
    ),
    "04": (("63", 0.98), ("32", 0.02)),
    "03": (("21", 0.5), ("18", 0.3), ("82", 0.2)),
    "01": (("70", 1.0),),
}  # fmt: skip

#: Opening-date decades and their weights, after the same sample.
_OPENING_DECADES = (
    (2020, 0.41), (2010, 0.33), (2000, 0.11), (1990, 0.075),
    (1980, 0.048), (1970, 0.02), (1960, 0.007),
)  # fmt: skip

#: CNAE subclasses: (code, weight as main activity, weight as secondary
#: activity, description from Receita's Cnaes table). The weights are counts in
#: a 1,600-row sample of the December 2025 delivery (secondary count plus one).
#: Codes that belong to one legal nature (political campaigns, condominiums,
#: churches, public bodies, notaries) are drawn through that nature instead.
_CNAES = (
    ("9492800", 87, 1, "Atividades de organizações políticas"),
    ("4781400", 71, 51, "Comércio varejista de artigos do vestuário e acessórios"),
    ("5611203", 55, 25, "Lanchonetes, casas de chá, de sucos e similares"),
    ("9602501", 49, 10, "Cabeleireiros, manicure e pedicure"),
    ("8888888", 35, 1, "Atividade Econônica não informada"),
    (
        "4712100",
        34,
        15,
        "Comércio varejista de mercadorias em geral, com predominância de produtos"
        " alimentícios - minimercados, mercearias e armazéns",
    ),
    ("4399103", 30, 18, "Obras de alvenaria"),
    (
        "8219999",
        26,
        36,
        "Preparação de documentos e serviços especializados de apoio administrativo não"
        " especificados anteriormente",
    ),
    ("7319002", 25, 27, "Promoção de vendas"),
    (
        "4930202",
        25,
        20,
        "Transporte rodoviário de carga, exceto produtos perigosos e mudanças,"
        " intermunicipal, interestadual e internacional",
    ),
    ("5320202", 24, 15, "Serviços de entrega rápida"),
    ("5611201", 23, 14, "Restaurantes e similares"),
    (
        "4772500",
        22,
        49,
        "Comércio varejista de cosméticos, produtos de perfumaria e de higiene pessoal",
    ),
    ("4321500", 21, 36, "Instalação e manutenção elétrica"),
    (
        "4930201",
        18,
        35,
        "Transporte rodoviário de carga, exceto produtos perigosos e mudanças, municipal.",
    ),
    ("4744099", 18, 18, "Comércio varejista de materiais de construção em geral"),
    ("9430800", 18, 1, "Atividades de associações de defesa de direitos sociais"),
    ("9602502", 17, 19, "Atividades de estética e outros serviços de cuidados com a beleza"),
    ("4789099", 16, 33, "Comércio varejista de outros produtos não especificados anteriormente"),
    ("5612100", 16, 14, "Serviços ambulantes de alimentação"),
    (
        "5620104",
        15,
        30,
        "Fornecimento de alimentos preparados preponderantemente para consumo domiciliar",
    ),
    ("8230001", 15, 28, "Serviços de organização de feiras, congressos, exposições e festas"),
    ("8599604", 15, 24, "Treinamento em desenvolvimento profissional e gerencial"),
    (
        "5229099",
        15,
        15,
        "Outras atividades auxiliares dos transportes terrestres não especificadas anteriormente",
    ),
    (
        "4729699",
        14,
        26,
        "Comércio varejista de produtos alimentícios em geral ou especializado em"
        " produtos alimentícios não especificados anteriormente",
    ),
    (
        "1412601",
        14,
        4,
        "Confecção de peças de vestuário, exceto roupas íntimas e as confeccionadas sob medida",
    ),
    ("8599699", 13, 19, "Outras atividades de ensino não especificadas anteriormente"),
    ("5320201", 13, 14, "Serviços de malote não realizados pelo Correio Nacional"),
    ("4330404", 12, 29, "Serviços de pintura de edifícios em geral"),
    ("8211300", 12, 16, "Serviços combinados de escritório e apoio administrativo"),
    ("4520001", 12, 13, "Serviços de manutenção e reparação mecânica de veículos automotores"),
    ("6462000", 12, 3, "Holdings de instituições não-financeiras"),
    ("4723700", 11, 38, "Comércio varejista de bebidas"),
    ("9511800", 11, 20, "Reparação e manutenção de computadores e de equipamentos periféricos"),
    ("7319003", 11, 11, "Marketing direto"),
    ("4744001", 10, 23, "Comércio varejista de ferragens e ferramentas"),
    (
        "1091102",
        10,
        10,
        "Fabricação de produtos de padaria e confeitaria com predominância de produção própria",
    ),
    ("4774100", 10, 4, "Comércio varejista de artigos de óptica"),
    ("9700500", 10, 3, "Serviços domésticos"),
    ("4771701", 10, 2, "Comércio varejista de produtos farmacêuticos, sem manipulação de fórmulas"),
    ("3329501", 9, 8, "Serviços de montagem de móveis de qualquer material"),
    ("4120400", 9, 8, "Construção de edifícios"),
    ("4755502", 8, 11, "Comercio varejista de artigos de armarinho"),
    ("4530703", 8, 9, "Comércio a varejo de peças e acessórios novos para veículos automotores"),
    ("4724500", 8, 9, "Comércio varejista de hortifrutigranjeiros"),
    (
        "8299799",
        8,
        8,
        "Outras atividades de serviços prestados principalmente às empresas não"
        " especificadas anteriormente",
    ),
    ("5819100", 8, 6, "Edição de cadastros, listas e de outros produtos gráficos"),
    ("4923001", 8, 4, "Serviço de táxi"),
    ("0113000", 8, 1, "Cultivo de cana-de-açúcar"),
    ("8112500", 8, 1, "Condomínios prediais"),
    (
        "4751201",
        7,
        22,
        "Comércio varejista especializado de equipamentos e suprimentos de informática",
    ),
    ("0161003", 7, 10, "Serviço de preparação de terreno, cultivo e colheita"),
    ("4754701", 7, 8, "Comércio varejista de móveis"),
    ("8630503", 7, 7, "Atividade médica ambulatorial restrita a consultas"),
    (
        "4619200",
        7,
        5,
        "Representantes comerciais e agentes do comércio de mercadorias em geral não especializado",
    ),
    ("1091101", 7, 3, "Fabricação de produtos de panificação industrial"),
    (
        "7020400",
        6,
        17,
        "Atividades de consultoria em gestão empresarial, exceto consultoria técnica específica",
    ),
    (
        "5611204",
        6,
        11,
        "Bares e outros estabelecimentos especializados em servir bebidas, sem entretenimento",
    ),
    (
        "4752100",
        6,
        10,
        "Comércio varejista especializado de equipamentos de telefonia e comunicação",
    ),
    (
        "4322302",
        6,
        9,
        "Instalação e manutenção de sistemas centrais de ar condicionado, de ventilação"
        " e refrigeração",
    ),
    ("8291100", 6, 6, "Atividades de cobranças e informações cadastrais"),
    ("5212500", 6, 4, "Carga e descarga"),
    ("0151201", 6, 3, "Criação de bovinos para corte"),
    ("4110700", 6, 3, "Incorporação de empreendimentos imobiliários"),
    ("6920601", 6, 3, "Atividades de contabilidade"),
    (
        "4711301",
        6,
        1,
        "Comércio varejista de mercadorias em geral, com predominância de produtos"
        " alimentícios - hipermercados",
    ),
    ("9491000", 6, 1, "Atividades de organizações religiosas ou filosóficas"),
    ("4782201", 5, 34, "Comércio varejista de calçados"),
    ("4742300", 5, 24, "Comércio varejista de material elétrico"),
    ("4755503", 5, 20, "Comercio varejista de artigos de cama, mesa e banho"),
    (
        "4753900",
        5,
        19,
        "Comércio varejista especializado de eletrodomésticos e equipamentos de áudio e vídeo",
    ),
    (
        "4541206",
        5,
        10,
        "Comércio a varejo de peças e acessórios novos para  motocicletas e motonetas",
    ),
    ("4722901", 5, 10, "Comércio varejista de carnes - açougues"),
    ("3101200", 5, 8, "Fabricação de móveis com predominância de madeira"),
    ("5620101", 5, 8, "Fornecimento de alimentos preparados preponderantemente para empresas"),
    ("9001902", 5, 7, "Produção musical"),
    (
        "4929902",
        5,
        6,
        "Transporte rodoviário coletivo de passageiros, sob regime de fretamento,"
        " intermunicipal, interestadual e internacional",
    ),
    ("4729601", 5, 4, "Tabacaria"),
    ("9609299", 5, 4, "Outras atividades de serviços pessoais não especificadas anteriormente"),
    ("7490103", 5, 2, "Serviços de agronomia e de consultoria às atividades agrícolas e pecuárias"),
    ("8630504", 5, 1, "Atividade odontológica"),
    ("4789001", 4, 29, "Comércio varejista de suvenires, bijuterias e artesanatos"),
    ("9499500", 4, 19, "Atividades associativas não especificadas anteriormente"),
    ("4789005", 4, 15, "Comércio varejista de produtos saneantes domissanitários"),
    ("3321000", 4, 14, "Instalação de máquinas e equipamentos industriais"),
    ("4713002", 4, 11, "Lojas de variedades, exceto lojas de departamentos ou magazines"),
    ("2539001", 4, 10, "Serviços de usinagem, tornearia e solda"),
    ("6810201", 4, 9, "Compra e venda de imóveis próprios"),
    ("7112000", 4, 9, "Serviços de engenharia"),
    ("1412602", 4, 8, "Confecção, sob medida, de peças do vestuário, exceto roupas íntimas"),
    ("4721104", 4, 8, "Comércio varejista de doces, balas, bombons e semelhantes"),
    ("4520002", 4, 6, "Serviços de lanternagem ou funilaria e pintura de veículos automotores"),
    ("4520005", 4, 6, "Serviços de lavagem, lubrificação e polimento de veículos automotores"),
    ("4543900", 4, 6, "Manutenção e reparação de motocicletas e motonetas"),
    ("1821100", 4, 5, "Serviços de pré-impressão"),
    ("4754702", 4, 4, "Comércio varejista de artigos de colchoaria"),
    ("4639701", 4, 3, "Comércio atacadista de produtos alimentícios em geral"),
    ("8630599", 4, 3, "Atividades de atenção ambulatorial não especificadas anteriormente"),
    ("7911200", 4, 2, "Agências de viagens"),
    ("9313100", 4, 1, "Atividades de condicionamento físico"),
    ("9609208", 4, 1, "Higiene e embelezamento de animais domésticos"),
    (
        "4759899",
        3,
        20,
        "Comércio varejista de outros artigos de uso pessoal e doméstico não"
        " especificados anteriormente",
    ),
    ("4721102", 3, 12, "Padaria e confeitaria com predominância de revenda"),
    ("7420001", 3, 12, "Atividades de produção de fotografias, exceto aérea e submarina"),
    (
        "4789004",
        3,
        11,
        "Comércio varejista de animais vivos e de artigos e alimentos para animais de estimação",
    ),
    ("8130300", 3, 11, "Atividades paisagísticas"),
    ("6204000", 3, 10, "Consultoria em tecnologia da informação"),
    ("4313400", 3, 9, "Obras de terraplenagem"),
    (
        "9521500",
        3,
        9,
        "Reparação e manutenção de equipamentos eletroeletrônicos de uso pessoal e doméstico",
    ),
    ("1094500", 3, 8, "Fabricação de massas alimentícias"),
    ("3299099", 3, 8, "Fabricação de produtos diversos não especificados anteriormente"),
    ("8599603", 3, 8, "Treinamento em informática"),
    (
        "9529199",
        3,
        8,
        "Reparação e manutenção de outros objetos e equipamentos pessoais e domésticos"
        " não especificados anteriormente",
    ),
    ("1629301", 3, 6, "Fabricação de artefatos diversos de madeira, exceto móveis"),
    (
        "5611205",
        3,
        6,
        "Bares e outros estabelecimentos especializados em servir bebidas, com entretenimento",
    ),
    ("8129000", 3, 6, "Atividades de limpeza não especificadas anteriormente"),
    ("2512800", 3, 5, "Fabricação de esquadrias de metal"),
    ("2542000", 3, 5, "Fabricação de artigos de serralheria, exceto esquadrias"),
    ("4789002", 3, 5, "Comércio varejista de plantas e flores naturais"),
    (
        "5911199",
        3,
        5,
        "Atividades de produção cinematográfica, de vídeos e de programas de televisão"
        " não especificadas anteriormente",
    ),
    (
        "6319400",
        3,
        5,
        "Portais, provedores de conteúdo e outros serviços de informação na internet",
    ),
    ("4530701", 3, 4, "Comércio por atacado de peças e acessórios novos para veículos automotores"),
    (
        "4711302",
        3,
        3,
        "Comércio varejista de mercadorias em geral, com predominância de produtos"
        " alimentícios - supermercados",
    ),
    ("4755501", 3, 3, "Comércio varejista de tecidos"),
    ("7311400", 3, 2, "Agências de publicidade"),
    ("8650004", 3, 2, "Atividades de fisioterapia"),
    ("9601701", 3, 2, "Lavanderias"),
    ("1531901", 3, 1, "Fabricação de calçados de couro"),
    ("6911701", 3, 1, "Serviços advocatícios"),
    ("7490101", 3, 1, "Serviços de tradução, interpretação e similares"),
    ("8599601", 3, 1, "Formação de condutores"),
    ("4930204", 2, 19, "Transporte rodoviário de mudanças"),
    (
        "7490104",
        2,
        17,
        "Atividades de intermediação e agenciamento de serviços e negócios em geral,"
        " exceto imobiliários",
    ),
    ("4763601", 2, 16, "Comércio varejista de brinquedos e artigos recreativos"),
    (
        "5912099",
        2,
        14,
        "Atividades de pós-produção cinematográfica, de vídeos e de programas de"
        " televisão não especificadas anteriormente",
    ),
    ("4783101", 2, 12, "Comércio varejista de artigos de joalheria"),
    ("4721103", 2, 11, "Comércio varejista de laticínios e frios"),
    ("8592999", 2, 11, "Ensino de arte e cultura não especificado anteriormente"),
    ("1412603", 2, 10, "Facção de peças do vestuário, exceto roupas íntimas"),
    ("4330403", 2, 10, "Obras de acabamento em gesso e estuque"),
    ("5620102", 2, 10, "Serviços de alimentação para eventos e recepções - bufê"),
    ("6209100", 2, 10, "Suporte técnico, manutenção e outros serviços em tecnologia da informação"),
    ("9512600", 2, 10, "Reparação e manutenção de equipamentos de comunicação"),
    ("4530705", 2, 9, "Comércio a varejo de pneumáticos e câmaras-de-ar"),
    ("4924800", 2, 9, "Transporte escolar"),
    (
        "4929901",
        2,
        9,
        "Transporte rodoviário coletivo de passageiros, sob regime de fretamento, municipal",
    ),
    (
        "6311900",
        2,
        9,
        "Tratamento de dados, provedores de serviços de aplicação e serviços de"
        " hospedagem na internet",
    ),
    (
        "4520007",
        2,
        7,
        "Serviços de instalação, manutenção e reparação de acessórios para veículos automotores",
    ),
    ("5812302", 2, 7, "Edição de jornais não diários"),
    ("0151202", 2, 6, "Criação de bovinos para leite"),
    ("8411600", 0, 1, "Administração pública em geral"),
    ("6912500", 0, 1, "Cartórios"),
)

#: CNAE codes reserved to a legal nature: main activity of every company of that
#: nature, and never drawn for other companies.
_NATURE_CNAES = {
    "4090": ("9492800",),
    "3085": ("8112500",),
    "3220": ("9491000",),
    "3999": ("9430800", "9499500"),
    "1244": ("8411600",),
    "1031": ("8411600",),
    "3034": ("6912500",),
}

# Words for names, streets and e-mails. Receita's large files are upper case and
# mostly ASCII; a few accented spellings are kept because real rows have them.

_FIRST_NAMES = (
    "MARIA", "JOSE", "ANA", "JOAO", "ANTONIO", "FRANCISCO", "CARLOS", "PAULO", "PEDRO",
    "LUCAS", "LUIZ", "MARCOS", "LUIS", "GABRIEL", "RAFAEL", "DANIEL", "MARCELO", "BRUNO",
    "EDUARDO", "FELIPE", "RAIMUNDO", "RODRIGO", "MANOEL", "MATEUS", "ANDRE", "FERNANDO",
    "FABIO", "LEONARDO", "GUSTAVO", "GUILHERME", "LEANDRO", "TIAGO", "ANDERSON", "RICARDO",
    "MARCIO", "JORGE", "SEBASTIAO", "ALEXANDRE", "ROBERTO", "EDSON", "DIEGO", "VITOR",
    "SERGIO", "CLAUDIO", "JULIANA", "ADRIANA", "MARCIA", "FERNANDA", "PATRICIA", "ALINE",
    "SANDRA", "CAMILA", "AMANDA", "BRUNA", "JESSICA", "LETICIA", "JULIA", "LUCIANA",
    "VANESSA", "MARIANA", "GABRIELA", "VERA", "VITORIA", "LARISSA", "CLAUDIA", "BEATRIZ",
    "RITA", "LUANA", "SONIA", "RENATA", "ELIANE", "JOSEFA", "SIMONE", "NATALIA", "CRISTIANE",
    "CARLA", "DEBORA", "ROSANGELA", "JAQUELINE", "ROSA", "DANIELA", "ALINE", "KELLY",
    "TEREZINHA", "CIDA", "WELLINGTON", "VALDEMIR", "ROBERIO", "EVELAINE", "CELIA",
)  # fmt: skip

_SURNAMES = (
    "SILVA", "SANTOS", "OLIVEIRA", "SOUZA", "RODRIGUES", "FERREIRA", "ALVES", "PEREIRA",
    "LIMA", "GOMES", "COSTA", "RIBEIRO", "MARTINS", "CARVALHO", "ALMEIDA", "LOPES", "SOARES",
    "FERNANDES", "VIEIRA", "BARBOSA", "ROCHA", "DIAS", "NASCIMENTO", "ANDRADE", "MOREIRA",
    "NUNES", "MARQUES", "MACHADO", "MENDES", "FREITAS", "CARDOSO", "RAMOS", "GONCALVES",
    "SANTANA", "TEIXEIRA", "ARAUJO", "PINTO", "CORREA", "CAVALCANTI", "MONTEIRO", "MOURA",
    "BEZERRA", "CAMPOS", "DA SILVA", "DOS SANTOS", "DE OLIVEIRA", "DE SOUZA", "DE JESUS",
    "DA COSTA", "DE LIMA", "PEIXOTO", "FONSECA", "BATISTA", "MIRANDA", "PIRES", "TAVARES",
    "BORGES", "MEDEIROS", "CASTRO", "GARCIA", "PERES", "FINGER", "TANAKA", "SATTO",
    "FOLASHADE", "GUZENSKI", "ANTUNES", "BISPO", "CUNHA", "QUEIROZ", "SIMOES", "FARIAS",
)  # fmt: skip

_FOREIGN_NAMES = (
    "JOHN SMITH", "MICHAEL JOHNSON", "PHILIPPE DERONCHENE", "JORGE GUTIERREZ CHAMLATI",
    "MARCO ROSSI", "HANS MULLER", "JUAN PEREZ", "KENJI SATO", "LI WEI", "PIERRE DUBOIS",
    "RIANE S.A.", "GLOBAL HOLDINGS LLC", "ATLANTIC INVESTMENTS INC", "IBERIA CAPITAL SL",
    "PACIFIC TRADING LIMITED", "EUROINVEST GMBH",
)  # fmt: skip

#: Street types with weights after the sample; ``10A RUA`` is a real junk value.
_STREET_TYPES = (
    ("RUA", 64.0), ("AVENIDA", 17.6), ("ESTRADA", 2.2), ("RODOVIA", 2.2), ("QUADRA", 1.8),
    ("TRAVESSA", 1.6), ("", 1.4), ("10A RUA", 1.0), ("SITIO", 1.1), ("PRACA", 0.9),
    ("ALAMEDA", 0.5), ("FAZENDA", 0.4), ("SÍTIO", 0.25), ("BECO", 0.25), ("PASSAGEM", 0.25),
    ("AREA", 0.2), ("CONJUNTO", 0.1), ("VIA", 0.1), ("SETOR", 0.1), ("1A TRAVESSA", 0.1),
)  # fmt: skip

_STREET_NAMES = (
    "SETE DE SETEMBRO", "QUINZE DE NOVEMBRO", "TIRADENTES", "GETULIO VARGAS",
    "SANTOS DUMONT", "DOM PEDRO II", "BRASIL", "PRESIDENTE KENNEDY", "JOSE BONIFACIO",
    "RUI BARBOSA", "MARECHAL DEODORO", "DUQUE DE CAXIAS", "BARAO DO RIO BRANCO", "SAO PAULO",
    "PARANA", "BAHIA", "AMAZONAS", "DAS FLORES", "DOS IPES", "DAS PALMEIRAS", "JOAO PESSOA",
    "CASTRO ALVES", "MACHADO DE ASSIS", "CARLOS GOMES", "FLORIANO PEIXOTO",
    "BENJAMIN CONSTANT", "OSVALDO CRUZ", "VISCONDE DE MAUA", "PRINCESA ISABEL", "SAO JOAO",
    "SAO JOSE", "SANTA CATARINA", "DAS ACACIAS", "ANTONIO CARLOS", "JOAQUIM NABUCO",
    "PEDRO ALVARES CABRAL", "DEZOITO DO FORTE", "CEL JOSE GLADIADOR", "HUMBERTO FREDIANI",
    "ORLANDO FRANCELINE JUNIOR", "SERRA AZUL", "L2 SGAN", "PROJETADA", "PROJETADA 3", "B",
    "DAS MANGUEIRAS", "DO COMERCIO", "DA REPUBLICA", "INDEPENDENCIA", "CENTRAL",
    "ERNANE GRAÇA", "NOSSA SENHORA DA CONCEIÇÃO", "SÃO BENEDITO", "AMAZONAS", "GOIAS",
    "JUSCELINO KUBITSCHEK", "FREI CANECA", "VOLUNTARIOS DA PATRIA", "ITALIA", "MATO GROSSO",
)  # fmt: skip

_DISTRICTS = (
    "JARDIM PAULISTA", "SAO JOSE", "SANTO ANTONIO", "BELA VISTA", "FLORESTA",
    "SAO FRANCISCO", "SEDE", "BOA VISTA", "CAMPO GRANDE", "COPACABANA", "SANTA MARIA",
    "PLANO DIRETOR NORTE", "ASA NORTE", "VILA NOVA", "JARDIM AMERICA", "PARQUE INDUSTRIAL",
    "DISTRITO INDUSTRIAL", "CIDADE NOVA", "JARDIM ANHANGUERA", "CAMPO LINDO", "LIBERDADE",
    "VILA MARIANA", "TIJUCA", "BOQUEIRAO", "ALDEOTA", "PITUBA", "SAVASSI", "BATEL",
    "MOINHOS DE VENTO", "TRINDADE", "JARDIM EUROPA", "VILA REAL", "PARQUE DAS NACOES",
    "NUCLEO RESIDENCIAL DOUTOR LUIZ DE MATTOS PIMENTA", "CONJUNTO HABITACIONAL",
    "SÃO CRISTÓVÃO", "JARDIM PRIMAVERA", "NOVA ESPERANCA", "PLANALTO", "INDUSTRIAL",
)  # fmt: skip

#: Words for trade names and legal names of companies.
_TRADE_WORDS = (
    "MERCEARIA", "PADARIA", "LANCHONETE", "RESTAURANTE", "BAR", "SALAO", "STUDIO",
    "AUTO PECAS", "MATERIAIS DE CONSTRUCAO", "CONSTRUTORA", "TRANSPORTES", "DISTRIBUIDORA",
    "MODAS", "BOUTIQUE", "FARMACIA", "OTICA", "PET SHOP", "ACADEMIA", "CONSULTORIA",
    "CONTABILIDADE", "ASSESSORIA", "TECNOLOGIA", "INFORMATICA", "ESTETICA", "BARBEARIA",
    "DOCERIA", "PIZZARIA", "ACOUGUE", "HORTIFRUTI", "CELULARES", "ELETRICA", "SERRALHERIA",
    "MARCENARIA", "OFICINA MECANICA", "LAVA JATO", "BAZAR", "PAPELARIA", "EVENTOS", "BUFFET",
    "PUBLICIDADE", "SERVICE", "EXPRESS", "CENTER", "STORE",
)  # fmt: skip

_ACTIVITIES = (
    "COMERCIO DE ROUPAS", "CONSTRUCOES", "SERVICOS", "TRANSPORTES", "ALIMENTOS",
    "TECNOLOGIA", "SOLUCOES EM TECNOLOGIA", "CONSULTORIA", "DISTRIBUIDORA DE BEBIDAS",
    "COMERCIO E SERVICOS", "MATERIAIS DE CONSTRUCAO", "AUTO PECAS", "ENGENHARIA",
    "INCORPORADORA", "PARTICIPACOES", "EVENTOS", "REPRESENTACOES", "COMERCIO VAREJISTA",
    "INDUSTRIA E COMERCIO", "LOGISTICA", "SERVICOS MEDICOS", "ODONTOLOGIA",
    "ASSESSORIA CONTABIL", "EDUCACAO", "CONFECCOES", "MOVEIS", "AGROPECUARIA",
    "COMERCIO DE ALIMENTOS", "SERVICOS ADMINISTRATIVOS", "EMPREENDIMENTOS IMOBILIARIOS",
)  # fmt: skip

_EMAIL_DOMAINS = (
    ("GMAIL.COM", 40.0), ("HOTMAIL.COM", 25.0), ("YAHOO.COM.BR", 6.0), ("OUTLOOK.COM", 6.0),
    ("BOL.COM.BR", 2.0), ("UOL.COM.BR", 2.0), ("TERRA.COM.BR", 1.0), ("ICLOUD.COM", 1.0),
    ("HOTMAIL.COM.BR", 1.0), ("YAHOO.COM", 1.0), ("LIVE.COM", 1.0),
)  # fmt: skip

_EMAIL_ROLES = (
    "CONTATO", "FINANCEIRO", "ADM", "VENDAS", "COMERCIAL", "ESCRITORIO", "LEGAL", "FISCAL",
    "RH", "ATENDIMENTO", "DIRETORIA", "COMPRAS", "SAC", "CONTABIL", "LICENCIAMENTO",
)  # fmt: skip

#: Age bands (faixa etária) of adult natural-person partners, after the
#: sample; bands 1 and 2 (up to 20 years) go to minor partners.
_AGE_BANDS = (
    ("5", 25.4), ("6", 22.0), ("7", 17.6), ("4", 14.2), ("8", 9.3), ("9", 5.8), ("3", 3.4),
)  # fmt: skip


@attrs.frozen
class _CompanyKind:
    """Legal nature with the shapes its companies take in the data."""

    nature: str
    #: Qualification of the person responsible, written in Empresas.
    responsible: str
    weight: float
    #: Weights of 0, 1, 2, 3 and 4 partners.
    partner_counts: tuple[float, float, float, float, float]
    #: Partner qualifications and their weights.
    partner_qualifications: tuple[tuple[str, float], ...]
    #: Share of the companies that appear in the Simples file.
    simples_share: float
    #: Weights of porte 01, 03, 05 and 00.
    sizes: tuple[float, float, float, float]
    #: Capital table: "micro", "business", "large" or "none".
    capital: str
    #: Legal-name style, one of the styles ``_CompanyNamer.name`` handles.
    name_style: str
    public_body: bool = False


_NO_PARTNERS = (1.0, 0.0, 0.0, 0.0, 0.0)
_ONE_PARTNER = (0.0, 1.0, 0.0, 0.0, 0.0)

#: Legal natures and their shares of companies. Individual entrepreneurs (2135)
#: have no partners, so the other natures carry about 2.5 partners each. With
#: these shares a month has about 0.95 companies, 1.25 partners and 0.88 Simples
#: rows per establishment. Arguments in field order: nature, responsible,
#: weight, partner counts, partner qualifications, Simples share, porte weights
#: (01, 03, 05, 00), capital table, name style.
_COMPANY_KINDS = (
    _CompanyKind("2135", "50", 50.0, _NO_PARTNERS, (), 1.0, (93, 1.5, 5, 0.5), "micro", "person_cpf"),
    _CompanyKind(
        "2062", "49", 40.0, (0.0, 0.08, 0.30, 0.30, 0.32),
        (("49", 0.70), ("22", 0.27), ("05", 0.02), ("30", 0.01)), 0.99, (60, 10, 29, 1),
        "business", "limited",
    ),
    _CompanyKind(
        "2240", "49", 2.0, (0.0, 0.0, 0.5, 0.3, 0.2), (("49", 0.8), ("22", 0.2)), 0.98,
        (70, 10, 19, 1), "business", "limited",
    ),
    _CompanyKind("2305", "65", 2.0, _ONE_PARTNER, (("65", 1.0),), 0.95, (70, 10, 19, 1), "business", "eireli"),
    _CompanyKind("2321", "65", 1.0, _ONE_PARTNER, (("65", 1.0),), 0.95, (80, 10, 10, 0), "micro", "law_firm"),
    _CompanyKind(
        "2054", "10", 0.8, (0.0, 0.0, 0.3, 0.4, 0.3), (("10", 0.6), ("16", 0.2), ("05", 0.2)),
        0.1, (5, 5, 90, 0), "large", "corporation",
    ),
    _CompanyKind(
        "2046", "10", 0.1, (0.0, 0.0, 0.2, 0.3, 0.5), (("10", 0.6), ("16", 0.2), ("05", 0.2)),
        0.0, (0, 0, 100, 0), "large", "corporation",
    ),
    _CompanyKind(
        "2143", "16", 0.3, (0.0, 0.0, 0.3, 0.4, 0.3), (("16", 0.5), ("10", 0.5)), 0.0,
        (5, 5, 85, 5), "business", "cooperative",
    ),
    _CompanyKind(
        "3999", "16", 2.5, (0.0, 0.3, 0.3, 0.2, 0.2), (("16", 0.6), ("10", 0.3), ("05", 0.1)),
        0.3, (5, 0, 90, 5), "none", "association",
    ),
    _CompanyKind("3085", "19", 1.0, _ONE_PARTNER, (("19", 1.0),), 0.0, (5, 0, 90, 5), "none", "condominium"),
    _CompanyKind(
        "3220", "16", 1.0, (0.0, 0.5, 0.3, 0.2, 0.0), (("16", 0.7), ("10", 0.3)), 0.2,
        (10, 0, 85, 5), "none", "church",
    ),
    _CompanyKind("4120", "59", 0.5, _ONE_PARTNER, (("59", 1.0),), 0.3, (80, 5, 15, 0), "micro", "farmer"),
    _CompanyKind("2127", "05", 0.3, _ONE_PARTNER, (("05", 1.0),), 0.0, (0, 0, 100, 0), "business", "scp"),
    _CompanyKind("4090", "51", 1.0, _ONE_PARTNER, (("51", 1.0),), 0.0, (0, 0, 95, 5), "none", "candidate"),
    _CompanyKind(
        "1244", "05", 0.05, _ONE_PARTNER, (("05", 1.0),), 0.0, (0, 0, 100, 0), "none", "municipality",
        public_body=True,
    ),
    _CompanyKind(
        "1031", "05", 0.1, _NO_PARTNERS, (), 0.0, (0, 0, 90, 10), "none", "city_agency",
        public_body=True,
    ),
    _CompanyKind("3034", "32", 0.1, _ONE_PARTNER, (("32", 1.0),), 0.0, (0, 0, 100, 0), "none", "notary"),
)  # fmt: skip

#: Establishments per company and their weights: most companies have one, a
#: few have branches (orders 0002 onwards). The mean is about 1.055.
_BRANCH_COUNTS = (
    (1, 0.98), (2, 0.012), (3, 0.004), (4, 0.001), (5, 0.0008), (6, 0.0005), (7, 0.0003),
    (8, 0.0002), (9, 0.0002), (12, 0.0002), (15, 0.0002), (20, 0.0002), (30, 0.0001),
    (50, 0.0001), (120, 0.00005),
)  # fmt: skip

#: Share of companies with an alphanumeric CNPJ root (issued since July 2026).
_ALPHANUMERIC_SHARE = 0.03

#: Share of establishments whose phone and e-mail are an accountant's, shared by
#: every client of that accountant, and clients per accountant.
_ACCOUNTANT_SHARE = 0.05
_CLIENTS_PER_ACCOUNTANT = 4000

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

T = TypeVar("T")

_REFERENCE_PATTERN = re.compile(r"(\d{4})-(\d{2})")

#: Day of the month used as Receita's extraction day. Real deliveries use the
#: day the extraction ran (D50712 is 2025-07-12); the generator fixes it.
_EXTRACTION_DAY = 8

_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LETTERS = _BASE36[10:]

_NO_DATE = "00000000"


def _weighted_table(options: Sequence[T], weights: Sequence[float], bits: int) -> list[T]:
    """Build a list of 2**bits items where each option fills a share equal to its weight.

    Indexing the table with ``bits`` random bits draws an option with one
    lookup, much faster than ``random.choices`` per row. Rounding uses largest
    remainders, so the table is the same on every run.
    """
    size = 1 << bits
    total = float(sum(weights))
    exact = [weight * size / total for weight in weights]
    counts = [int(share) for share in exact]
    missing = size - sum(counts)
    by_remainder = sorted(range(len(options)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[:missing]:
        counts[i] += 1
    for option, weight, count in zip(options, weights, counts, strict=True):
        if weight > 0 and count == 0:
            raise ValueError(f"weight {weight} of {option!r} is too small for a {bits}-bit table")
    table: list[T] = []
    for option, count in zip(options, counts, strict=True):
        table.extend([option] * count)
    return table


def _ymd(day: date) -> str:
    # Every year here has four digits, so the number has eight.
    return str(day.year * 10_000 + day.month * 100 + day.day)


def _pick(rng: Random, options: Sequence[T]) -> T:
    """Return a random item; ``random()`` based, several times faster than ``choice``."""
    return options[int(rng.random() * len(options))]


def _between(rng: Random, low: int, high: int) -> int:
    """Return a random integer from ``low`` to ``high`` inclusive, like a faster ``randint``."""
    return low + int(rng.random() * (high - low + 1))


def _random_day(rng: Random, first: date, last: date) -> date:
    """Return a uniformly drawn day from ``first`` to ``last`` inclusive."""
    if last <= first:
        return first
    span = last.toordinal() - first.toordinal() + 1
    return date.fromordinal(first.toordinal() + int(rng.random() * span))


def _base36(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        chars.append(_BASE36[digit])
    return "".join(reversed(chars))


_FIRST_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SECOND_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3)

#: Check digit for each remainder modulo 11: 0 and 1 give 0, r gives 11 - r.
_DIGIT_FOR_REMAINDER = (0, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1)

#: Zero-padded digit strings for table lookups: a format spec such as
#: ``f"{n:06d}"`` costs about 0.2 us in CPython 3.11, a lookup a tenth of that.
#: ``_THREE_DIGITS`` has 1024 entries so 10 random bits index it directly;
#: entry i is i mod 1000.
_TWO_DIGITS = [f"{i:02d}" for i in range(100)]
_THREE_DIGITS = [f"{i % 1000:03d}" for i in range(1024)]
_FOUR_DIGITS = [f"{i:04d}" for i in range(10_000)]


def _chunk_sums(offset: int, width: int) -> list[int]:
    """Weighted sums of every ``width``-digit chunk at ``offset`` of a numeric CNPJ base.

    Each entry packs the contribution to the first check digit in the units
    and the contribution to the second one times 1000 (both stay below 600).
    Packing is linear, so packed weights give packed sums directly.
    """
    packed = [
        first + 1000 * second
        for first, second in zip(
            _FIRST_WEIGHTS[offset : offset + width],
            _SECOND_WEIGHTS[offset : offset + width],
            strict=True,
        )
    ]
    sums = [0]
    for weight in packed:
        sums = [total + digit * weight for total in sums for digit in range(10)]
    return sums


def _check_digit_pairs() -> list[str]:
    """Map (first sum mod 11) * 11 + (second sum mod 11) to the two check digits."""
    pairs = []
    for first_remainder in range(11):
        first = _DIGIT_FOR_REMAINDER[first_remainder]
        for second_remainder in range(11):
            second = _DIGIT_FOR_REMAINDER[(second_remainder + 2 * first) % 11]
            pairs.append(f"{first}{second}")
    return pairs


@attrs.frozen
class _NumericCheckDigits:
    """Check digits of numeric CNPJs from precomputed sums of digit chunks.

    ``domain.cnpj.check_digits`` takes about 4 us per call, which alone would
    cap the generator near 250k rows/s. This is the same modulo-11 rule split
    into table lookups: four 2-digit chunks of the root (small tables stay in
    the CPU cache) and the 4-digit order. The tests compare both on many bases.
    """

    root_chunks: tuple[list[int], ...] = attrs.field(
        factory=lambda: tuple(_chunk_sums(offset, 2) for offset in (0, 2, 4, 6))
    )
    order: list[int] = attrs.field(factory=lambda: _chunk_sums(8, 4))
    pairs: list[str] = attrs.field(factory=_check_digit_pairs)

    def root_sum(self, root: int) -> int:
        first, second, third, fourth = self.root_chunks
        return (
            first[root // 1_000_000]
            + second[root // 10_000 % 100]
            + third[root // 100 % 100]
            + fourth[root % 100]
        )

    def digits(self, root_sum: int, order: int) -> str:
        total = root_sum + self.order[order]
        return self.pairs[(total % 1000) % 11 * 11 + (total // 1000) % 11]


def _parse_reference(reference: str) -> date:
    """Return the extraction date of a ``YYYY-MM`` reference month."""
    match = _REFERENCE_PATTERN.fullmatch(reference)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValueError(
            f"invalid reference {reference!r}: expected a month as YYYY-MM, e.g. 2026-11"
        )
    return date(int(match.group(1)), int(match.group(2)), _EXTRACTION_DAY)


def extraction_code(extraction: date) -> str:
    """Return Receita's extraction code: ``D``, the year's last digit, month and day (D50712)."""
    return f"D{extraction.year % 10}{extraction.month:02d}{extraction.day:02d}"


def member_names(code: str, parts: int) -> dict[str, tuple[str, ...]]:
    """Return the CSV member names of a delivery per file kind, as Receita names them.

    Since July 2022 Receita names the zips ``Estabelecimentos1.zip`` and so on,
    but the member inside keeps the mainframe name, e.g.
    ``K3241.K03200Y1.D50712.ESTABELE`` in the July 2025 delivery.
    """
    return {
        "companies": tuple(f"K3241.K03200Y{i}.{code}.EMPRECSV" for i in range(parts)),
        "establishments": tuple(f"K3241.K03200Y{i}.{code}.ESTABELE" for i in range(parts)),
        "partners": tuple(f"K3241.K03200Y{i}.{code}.SOCIOCSV" for i in range(parts)),
        "simples": (f"F.K03200$W.SIMPLES.CSV.{code}",),
        "cnaes": (f"F.K03200$Z.{code}.CNAECSV",),
        "reasons": (f"F.K03200$Z.{code}.MOTICSV",),
        "municipalities": (f"F.K03200$Z.{code}.MUNICCSV",),
        "legal_natures": (f"F.K03200$Z.{code}.NATJUCSV",),
        "countries": (f"F.K03200$Z.{code}.PAISCSV",),
        "qualifications": (f"F.K03200$Z.{code}.QUALSCSV",),
    }


def zip_names(parts: int) -> dict[str, tuple[str, ...]]:
    """Return the zip file names of a delivery per file kind (naming in use since July 2022)."""
    return {
        "companies": tuple(f"Empresas{i}.zip" for i in range(parts)),
        "establishments": tuple(f"Estabelecimentos{i}.zip" for i in range(parts)),
        "partners": tuple(f"Socios{i}.zip" for i in range(parts)),
        "simples": ("Simples.zip",),
        "cnaes": ("Cnaes.zip",),
        "reasons": ("Motivos.zip",),
        "municipalities": ("Municipios.zip",),
        "legal_natures": ("Naturezas.zip",),
        "countries": ("Paises.zip",),
        "qualifications": ("Qualificacoes.zip",),
    }


# ---------------------------------------------------------------------------
# Pools of pre-quoted field groups
# ---------------------------------------------------------------------------
#
# Formatting thirty fields per row one by one costs more than the rest of the
# generator together. So groups of neighbouring fields are drawn once per run
# into pools of ready-quoted fragments: status with its date and reason, street
# with number and complement, district with CEP, UF and municipality. Each row
# joins a few fragments picked with random bits. Values that must stay unique
# or nearly so (CNPJ, phone numbers, e-mails, partner names) are formatted per
# row.

# Pool sizes stay at 4096 entries or fewer: picking at random from larger
# pools misses the CPU caches, which measured 2.5 times slower per row with
# 16384-entry pools. Rows still vary widely because each joins several pools.
_LIFECYCLE_BITS = 12
_ADDRESS_BITS = 12
_LOCATION_BITS = 12
_CNAE_BITS = 12
_TRADE_NAME_BITS = 12
_EMAIL_LOCAL_BITS = 11


@attrs.frozen
class _Lifecycle:
    """One drawn life story of an establishment and of its company."""

    #: Status, status date and reason, quoted: ``"08";"20161125";"01"``.
    status: str
    #: Opening date, quoted.
    opening_field: str
    #: Columns 6 to 11 of a domestic establishment: status, status date,
    #: reason, an empty city abroad, the country (empty, or 105 BRASIL in about
    #: 2% of rows, as in real data) and the opening date.
    fields: str
    #: Special situation and its date, quoted.
    special: str
    #: Dates partners joined, drawn with 3 random bits: the opening date in
    #: six of the eight slots, later dates in the other two.
    joined: tuple[str, ...]
    #: Simples row after the root, for individual entrepreneurs (MEI possible).
    simples_individual: str
    #: Simples row after the root, for other companies.
    simples_company: str


def _draw_opening(rng: Random, extraction: date, decades: list[int]) -> date:
    decade = decades[rng.getrandbits(10)]
    last = min(date(decade + 9, 12, 31), extraction)
    return _random_day(rng, date(decade, 1, 1), last)


def _simples_rows(
    rng: Random, opening: date, status: str, status_day: date | None, extraction: date
) -> tuple[str, str]:
    """Draw the Simples fields of an individual entrepreneur and of another company.

    Simples Nacional started on 2007-07-01 and MEI on 2009-07-01, so option
    dates never precede them. ``00000000`` means no date, as in Receita's file.
    A few active companies carry an exclusion scheduled for 31 December, after
    the extraction date, as real deliveries do.
    """
    simples_start = max(opening, date(2007, 7, 1))
    mei_start = max(opening, date(2009, 7, 1))
    year_end = f"{extraction.year}1231"
    simples_day = _ymd(simples_start)
    mei_day = _ymd(mei_start)
    # Companies outside MEI often opt at the start of a calendar year.
    if rng.random() < 0.3 and simples_start.year < extraction.year:
        company_day = f"{_between(rng, simples_start.year + 1, extraction.year)}0101"
    else:
        company_day = simples_day
    closed = None if status_day is None else _ymd(max(status_day, simples_start))
    left_day = _ymd(_random_day(rng, mei_start, extraction))
    draw = rng.random()

    if status == "02":
        if draw < 0.6:
            individual = f'"S";"{mei_day}";"{_NO_DATE}";"S";"{mei_day}";"{_NO_DATE}"'
        elif draw < 0.8:
            individual = f'"S";"{simples_day}";"{_NO_DATE}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        elif draw < 0.9:
            individual = f'"S";"{simples_day}";"{_NO_DATE}";"N";"{mei_day}";"{left_day}"'
        elif draw < 0.99:
            individual = f'"N";"{simples_day}";"{left_day}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        else:
            individual = f'"S";"{simples_day}";"{year_end}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        if draw < 0.8:
            company = f'"S";"{company_day}";"{_NO_DATE}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        elif draw < 0.98:
            left = _ymd(
                _random_day(rng, max(simples_start, date(int(company_day[:4]), 1, 1)), extraction)
            )
            company = f'"N";"{company_day}";"{left}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        else:
            company = f'"S";"{company_day}";"{year_end}";"N";"{_NO_DATE}";"{_NO_DATE}"'
    else:
        closed = closed or left_day
        if draw < 0.6 and status_day is not None and mei_start <= status_day:
            individual = f'"N";"{mei_day}";"{closed}";"N";"{mei_day}";"{closed}"'
        else:
            individual = f'"N";"{simples_day}";"{closed}";"N";"{_NO_DATE}";"{_NO_DATE}"'
        company_closed = max(closed, company_day)
        company = f'"N";"{company_day}";"{company_closed}";"N";"{_NO_DATE}";"{_NO_DATE}"'
    return individual + "\n", company + "\n"


def _build_lifecycles(rng: Random, extraction: date) -> list[_Lifecycle]:
    statuses = _weighted_table([s for s, _ in _STATUSES], [w for _, w in _STATUSES], 12)
    reasons = {
        status: _weighted_table([r for r, _ in pairs], [w for _, w in pairs], 10)
        for status, pairs in _REASONS_BY_STATUS.items()
    }
    decades = _weighted_table(
        [d for d, _ in _OPENING_DECADES], [w for _, w in _OPENING_DECADES], 10
    )
    pool = []
    for _ in range(1 << _LIFECYCLE_BITS):
        status = statuses[rng.getrandbits(12)]
        reason = reasons[status][rng.getrandbits(10)]
        opening = _draw_opening(rng, extraction, decades)
        drawn_day = _random_day(rng, opening, extraction)
        status_day: date | None = drawn_day
        status_text = _ymd(drawn_day)
        if status == "02":
            # An active establishment's status date is mostly its opening date.
            # Real rows also carry "0", "00000000" or nothing here.
            draw = rng.random()
            if draw < 0.75:
                status_day, status_text = opening, _ymd(opening)
            elif draw >= 0.995:
                status_day, status_text = None, ""
            elif draw >= 0.99:
                status_day, status_text = None, _NO_DATE
            elif draw >= 0.97:
                status_day, status_text = None, "0"
        if rng.random() < 0.001:
            special_day = _random_day(rng, opening, extraction)
            special = f'"RECUPERACAO JUDICIAL";"{_ymd(special_day)}"'
        else:
            special = '"";""'
        later = [_ymd(_random_day(rng, opening, extraction)) for _ in range(2)]
        joined = (_ymd(opening),) * 6 + tuple(later)
        country = '"";"105"' if rng.random() < 0.02 else '"";""'
        individual, company = _simples_rows(rng, opening, status, status_day, extraction)
        pool.append(
            _Lifecycle(
                status=f'"{status}";"{status_text}";"{reason}"',
                opening_field=f'"{_ymd(opening)}"',
                fields=f'"{status}";"{status_text}";"{reason}";{country};"{_ymd(opening)}"',
                special=special,
                joined=joined,
                simples_individual=individual,
                simples_company=company,
            )
        )
    return pool


def _build_cnaes(rng: Random) -> list[str]:
    """Draw quoted main-activity and secondary-activity pairs."""
    reserved = {code for codes in _NATURE_CNAES.values() for code in codes}
    usable = [entry for entry in _CNAES if entry[0] not in reserved]
    mains = _weighted_table([c for c, *_ in usable], [w for _, w, _, _ in usable], 14)
    secondaries = _weighted_table([c for c, *_ in _CNAES], [w for _, _, w, _ in _CNAES], 14)
    # Number of secondary activities, 0 to 6 after the sample (51% have none),
    # plus a thin tail of long lists: real rows reach 97 codes.
    counts = _weighted_table(
        [0, 1, 2, 3, 4, 5, 6, 9, 14, 25], [51, 19, 10, 6, 4.5, 3.5, 3, 2, 0.7, 0.3], 12
    )
    pool = []
    for _ in range(1 << _CNAE_BITS):
        main = mains[rng.getrandbits(14)]
        chosen: list[str] = []
        for _ in range(counts[rng.getrandbits(12)]):
            code = secondaries[rng.getrandbits(14)]
            if code != main and code not in chosen:
                chosen.append(code)
        pool.append(f'"{main}";"{",".join(chosen)}"')
    return pool


def _draw_number(rng: Random) -> str:
    draw = rng.random()
    if draw < 0.05:
        return "S/N"
    if draw < 0.09:
        return "SN"
    if draw < 0.098:
        return "S N"
    # House numbers are mostly small: a log-uniform draw up to 9999.
    return str(int(math.exp(rng.random() * math.log(10_000))))


def _draw_complement(rng: Random) -> str:
    """Draw a complemento; real ones contain double spaces, long space runs and ``;``."""
    draw = rng.random()
    n = _between(rng, 1, 120)
    m = _between(rng, 1, 40)
    if draw < 0.62:
        return ""
    if draw < 0.70:
        return f"SALA  {n:02d}"
    if draw < 0.76:
        return f"CASA {m}" if draw < 0.73 else "CASA"
    if draw < 0.80:
        return "FUNDOS"
    if draw < 0.85:
        return f"APT {n}"
    if draw < 0.89:
        return f"LOJA {m}"
    if draw < 0.91:
        return f"BLOCO {m:02d}                  APT   {n}"
    if draw < 0.93:
        return f"QUADRA {m};LOTE {n}"
    if draw < 0.94:
        return f"QUADRA: {n}; LOTE: {m}; SALA: {m:02d};"
    if draw < 0.96:
        return f"      LOJA {m}"
    if draw < 0.97:
        return f"KM {n}"
    if draw < 0.98:
        return f"ANDAR {m}"
    return f"BOX {m}"


def _build_addresses(rng: Random) -> list[str]:
    """Draw quoted tipo_logradouro, logradouro, numero and complemento groups."""
    types = _weighted_table([t for t, _ in _STREET_TYPES], [w for _, w in _STREET_TYPES], 12)
    pool = []
    for _ in range(1 << _ADDRESS_BITS):
        street_type = types[rng.getrandbits(12)]
        name = _pick(rng, _STREET_NAMES)
        if rng.random() < 0.01:
            name = " " + name
        pool.append(f'"{street_type}";"{name}";"{_draw_number(rng)}";"{_draw_complement(rng)}"')
    return pool


@attrs.frozen
class _Location:
    """Quoted location fields of an establishment and what depends on them."""

    #: City abroad and country code, quoted (columns 9 and 10). Domestic rows
    #: take these columns from their lifecycle instead.
    abroad: str
    #: District, CEP, UF and municipality, quoted (columns 18 to 21).
    place: str
    #: Area code of the municipality, or None abroad.
    area_code: str | None
    #: ``NAME - UF``, the ente federativo of public bodies located there.
    federative_entity: str


def _municipality_weights() -> list[float]:
    by_uf: dict[str, int] = {}
    for _, _, uf, *_ in _MUNICIPALITIES:
        by_uf[uf] = by_uf.get(uf, 0) + 1
    weights = []
    seen: set[str] = set()
    for _, _, uf, *_ in _MUNICIPALITIES:
        population = _UF_POPULATION[uf]
        if uf not in seen:
            seen.add(uf)
            share = _CAPITAL_SHARE if by_uf[uf] > 1 else 1.0
        else:
            share = (1.0 - _CAPITAL_SHARE) / (by_uf[uf] - 1)
        weights.append(population * share)
    return weights


def _build_locations(rng: Random) -> list[_Location]:
    municipalities = _weighted_table(list(_MUNICIPALITIES), _municipality_weights(), 16)
    districts = _weighted_table(
        ["CENTRO", "ZONA RURAL", "", *_DISTRICTS],
        [16.0, 1.7, 0.5, *[81.8 / len(_DISTRICTS)] * len(_DISTRICTS)],
        12,
    )
    pool = []
    for _ in range(1 << _LOCATION_BITS):
        if rng.random() < _ABROAD_SHARE:
            city, country = _pick(rng, _ABROAD_CITIES)
            code, _name = _ABROAD_MUNICIPALITY
            pool.append(_Location(f'"{city}";"{country}"', f'"";"";"EX";"{code}"', None, ""))
            continue
        tom, name, uf, _ibge, _cnpj, area_code, cep_first, cep_last = municipalities[
            rng.getrandbits(16)
        ]
        # Half the CEPs end in 000, the code of a whole town or street.
        suffix = "000" if rng.random() < 0.5 else f"{_between(rng, 0, 999):03d}"
        cep = f"{_between(rng, cep_first, cep_last):05d}{suffix}"
        draw = rng.random()
        if draw < 0.003:
            cep = ""
        elif draw < 0.013 and cep.startswith("0"):
            # About 0.1% of real rows have a 7-digit CEP, mostly a Sao Paulo
            # 0xxxxxxx code that lost its leading zero.
            cep = cep[1:]
        district = districts[rng.getrandbits(12)]
        pool.append(
            _Location('"";""', f'"{district}";"{cep}";"{uf}";"{tom}"', area_code, f"{name} - {uf}")
        )
    return pool


def _build_trade_names(rng: Random) -> list[str]:
    """Draw quoted nome_fantasia values; 56% are empty, as in the sample."""
    pool = []
    for _ in range(1 << _TRADE_NAME_BITS):
        draw = rng.random()
        word = _pick(rng, _TRADE_WORDS)
        surname = _pick(rng, _SURNAMES)
        if draw < 0.56:
            name = ""
        elif draw < 0.72:
            name = f"{word} {surname}"
        elif draw < 0.82:
            name = f"{surname} {word}"
        elif draw < 0.88:
            name = f"{_pick(rng, _LETTERS)} & {_pick(rng, _LETTERS)} {word}"
        elif draw < 0.93:
            name = f"GRUPO {surname} {_pick(rng, _SURNAMES)}"
        elif draw < 0.97:
            name = f"{word} - {_pick(rng, ('SERVICE', 'EXPRESS', 'CENTER', 'STORE'))}"
        else:
            name = f"{surname[:4]}{word[:4]}{_pick(rng, _LETTERS)}"
        pool.append(f'"{name}"')
    return pool


def _build_email_locals(rng: Random) -> list[str]:
    pool = []
    for _ in range(1 << _EMAIL_LOCAL_BITS):
        first = _pick(rng, _FIRST_NAMES)
        surname = _pick(rng, _SURNAMES).replace(" ", "")
        draw = rng.random()
        if draw < 0.35:
            local = f"{first}{surname}"
        elif draw < 0.6:
            local = f"{first}.{surname}"
        elif draw < 0.75:
            local = first
        elif draw < 0.9:
            local = _pick(rng, _EMAIL_ROLES)
        else:
            local = f"{_pick(rng, _TRADE_WORDS).replace(' ', '')}{surname}"
        pool.append(local)
    return pool


def _build_email_domains(rng: Random) -> list[str]:
    """Draw e-mail domains: free mail providers plus company domains."""
    names = [d for d, _ in _EMAIL_DOMAINS]
    weights = [w for _, w in _EMAIL_DOMAINS]
    for _ in range(64):
        word = _pick(rng, _TRADE_WORDS).replace(" ", "")
        names.append(f"{word}{_pick(rng, _SURNAMES).replace(' ', '')}.COM.BR")
        weights.append(14.0 / 64)
    return _weighted_table(names, weights, 10)


def _build_invalid_emails(rng: Random, locals_: list[str], domains: list[str]) -> list[str]:
    """Draw e-mails that fail validation in the ways real ones do."""
    pool = []
    for _ in range(256):
        local = locals_[rng.getrandbits(_EMAIL_LOCAL_BITS)]
        domain = domains[rng.getrandbits(10)]
        shapes = (
            f"{local}{domain}",
            f"{local}@{domain}.",
            f"{local} @{domain}",
            f"{local}@@{domain}",
            f"{local}@{domain.split('.')[0]}",
            f"@{domain}",
            f"{local}@",
            f"{local.lower()},{domain.lower()}",
        )
        pool.append(f'"{_pick(rng, shapes)}"')
    return pool


#: First two digits of an 8-digit phone number. 8-digit numbers starting with
#: 6 to 9 are mobiles stored without the ninth digit (952 of 1,588 phones in
#: the sample); 2 to 5 are landlines.
_PHONE_PREFIXES = (
    [f"9{d}" for d in range(10)] * 5
    + [f"8{d}" for d in range(10)] * 2
    + [f"7{d}" for d in range(10)]
    + [f"6{d}" for d in range(10)]
    + [f"{p}{d}" for p in "2345" for d in range(10)] * 2
)[:128]

# Phone field shapes. Every number has at most 8 digits after a separate DDD.
_PHONE_NONE = 0
_PHONE_ONE = 1
_PHONE_TWO = 2
_PHONE_WITH_FAX = 3
_PHONE_ZERO = 4
_PHONE_ZEROS_SECOND = 5
_PHONE_TRUNK_PREFIX = 6
_PHONE_NO_AREA_CODE = 7
_PHONE_SEVEN_DIGITS = 8

_PHONE_SHAPES = _weighted_table(
    [
        _PHONE_NONE, _PHONE_ONE, _PHONE_TWO, _PHONE_WITH_FAX, _PHONE_ZERO, _PHONE_ZEROS_SECOND,
        _PHONE_TRUNK_PREFIX, _PHONE_NO_AREA_CODE, _PHONE_SEVEN_DIGITS,
    ],
    [15.0, 61.0, 7.0, 7.0, 4.5, 1.5, 1.5, 1.0, 1.5],
    10,
)  # fmt: skip

_EMAIL_NONE = 0
_EMAIL_UPPER = 1
_EMAIL_LOWER = 2
_EMAIL_MIXED = 3
_EMAIL_INVALID = 4

#: E-mail shapes: the sample had 1,093 upper-case, 317 lower-case and a few
#: mixed-case ones among 1,415 e-mails, and 29% of rows without one.
_EMAIL_SHAPES = _weighted_table(
    [_EMAIL_NONE, _EMAIL_UPPER, _EMAIL_LOWER, _EMAIL_MIXED, _EMAIL_INVALID],
    [29.0, 52.0, 15.0, 2.5, 1.5],
    10,
)

_NO_PHONES = '"";"";"";"";"";""'


def _phone_fields(shape: int, area_code: str, bits: int) -> str:
    """Build the six quoted phone fields (ddd_1 to fax) of the rarer shapes."""
    first = f"{_PHONE_PREFIXES[bits & 127]}{(bits >> 7) % 1_000_000:06d}"
    second = f"{_PHONE_PREFIXES[(bits >> 27) & 127]}{(bits >> 34) % 1_000_000:06d}"
    if shape == _PHONE_TWO:
        return f'"{area_code}";"{first}";"{area_code}";"{second}";"";""'
    if shape == _PHONE_WITH_FAX:
        # The fax repeats the phone in three rows out of four.
        fax = first if (bits >> 60) & 3 else second
        return f'"{area_code}";"{first}";"";"";"{area_code}";"{fax}"'
    if shape == _PHONE_ZERO:
        return '"0";"0";"";"";"0";"0"'
    if shape == _PHONE_ZEROS_SECOND:
        return f'"{area_code}";"{first}";"0000";"00000000";"";""'
    if shape == _PHONE_TRUNK_PREFIX:
        # "011" or, in a quarter of these rows, "0011".
        trunk = "00" if (bits >> 62) & 3 == 0 else "0"
        return f'"{trunk}{area_code}";"{first}";"";"";"";""'
    if shape == _PHONE_NO_AREA_CODE:
        return f'"";"{first}";"";"";"";""'
    return f'"{area_code}";"{first[1:]}";"";"";"";""'


@attrs.frozen
class _Accountant:
    phones: str
    email: str


def _build_accountants(rng: Random, count: int, locations: list[_Location]) -> list[_Accountant]:
    """Draw accounting offices whose phone and e-mail many clients list as their own."""
    accountants = []
    for _ in range(count):
        location = locations[rng.getrandbits(_LOCATION_BITS)]
        area_code = location.area_code or "11"
        number = f"{_pick(rng, ('3', '2', '9'))}{_between(rng, 0, 9_999_999):07d}"
        surname = _pick(rng, _SURNAMES).replace(" ", "")
        office = _pick(rng, ("CONTABIL", "CONTABILIDADE", "ASSESSORIA", "SERCONTA", "ESCRITORIO"))
        email = f"{_pick(rng, _EMAIL_ROLES)}@{office}{surname}.COM.BR"
        if rng.random() < 0.4:
            email = email.lower()
        accountants.append(_Accountant(f'"{area_code}";"{number}";"";"";"";""', f'"{email}"'))
    return accountants


@attrs.frozen
class _KindTables:
    """Per-row draw tables of one company kind, flattened for the row loop."""

    nature: str
    #: ``"nature";"qualification"`` as written in Empresas.
    nature_fields: str
    weight: float
    partner_counts: list[int]
    partner_qualifications: list[str]
    #: Companies whose 10 random bits fall below this value are in Simples.
    simples_cut: int
    sizes: list[str]
    #: 64 capital amounts.
    capitals: list[str]
    #: Quoted main and (empty) secondary CNAE of each establishment, or None to
    #: draw them from the shared pool.
    cnaes: list[str] | None
    name_style: str
    public_body: bool


def _capital_text(amount: float) -> str:
    """Format share capital as Receita does: comma decimal, no thousands separator."""
    cents = round(amount * 100)
    return f"{cents // 100},{cents % 100:02d}"


def _build_capitals(rng: Random, style: str) -> list[str]:
    if style == "none":
        return _weighted_table(["0,00", "1000,00"], [97.0, 3.0], 6)
    if style == "micro":
        round_values = ["0,00", "1000,00", "5000,00", "2000,00", "3000,00", "10000,00", "500,00",
                        "1500,00", "1,00", "100,00", "2500,00", "700,00", "8000,00"]  # fmt: skip
        weights = [20.0, 20, 12, 10, 8, 8, 5, 4, 4, 4, 3, 1, 1]
    elif style == "business":
        round_values = ["10000,00", "100000,00", "50000,00", "20000,00", "30000,00", "1000,00",
                        "5000,00", "15000,00", "200000,00", "0,00"]  # fmt: skip
        weights = [15.0, 8, 8, 8, 6, 6, 6, 4, 3, 5]
    else:
        round_values = ["1000000,00", "5000000,00", "500000,00", "10000000,00"]
        weights = [20.0, 10, 10, 10]
    table = _weighted_table(round_values, weights, 6)
    # Replace a quarter of the slots with odd amounts such as 62200,00 or
    # 1061004829,23 drawn log-uniformly, so the column is not all round values.
    low, high = {"micro": (100, 100_000), "business": (1_000, 5_000_000)}.get(
        style, (100_000, 2_000_000_000)
    )
    for i in range(0, len(table), 4):
        amount = math.exp(rng.uniform(math.log(low), math.log(high)))
        if rng.random() < 0.8:
            amount = round(amount, -2)
        table[i] = _capital_text(amount)
    return table


def _build_kind_tables(rng: Random) -> list[_KindTables]:
    tables = []
    for kind in _COMPANY_KINDS:
        qualifications = kind.partner_qualifications or (("49", 1.0),)
        nature_cnaes = _NATURE_CNAES.get(kind.nature)
        tables.append(
            _KindTables(
                nature=kind.nature,
                nature_fields=f'"{kind.nature}";"{kind.responsible}"',
                weight=kind.weight,
                partner_counts=_weighted_table([0, 1, 2, 3, 4], kind.partner_counts, 10),
                partner_qualifications=_weighted_table(
                    [q for q, _ in qualifications], [w for _, w in qualifications], 10
                ),
                simples_cut=round(kind.simples_share * 1024),
                sizes=_weighted_table(["01", "03", "05", "00"], kind.sizes, 10),
                capitals=_build_capitals(rng, kind.capital),
                cnaes=None
                if nature_cnaes is None
                else [f'"{nature_cnaes[i % len(nature_cnaes)]}";""' for i in range(16)],
                name_style=kind.name_style,
                public_body=kind.public_body,
            )
        )
    return tables


@attrs.frozen
class _Pools:
    """Everything the row loop draws from, built once per run.

    The row loop reads the per-establishment strings from flat lists (for
    example ``lifecycle_fields[i]`` instead of ``lifecycles[i].fields``): every
    object dereferenced at random is a likely cache miss.
    """

    lifecycles: list[_Lifecycle]
    lifecycle_fields: list[str]
    lifecycle_specials: list[str]
    cnaes: list[str]
    addresses: list[str]
    locations: list[_Location]
    location_places: list[str]
    location_area_codes: list[str | None]
    trade_names: list[str]
    email_locals: list[str]
    email_domains: list[str]
    email_suffixes: list[str]
    invalid_emails: list[str]
    accountants: list[_Accountant]
    kind_table: list[_KindTables]
    branch_counts: list[int]
    age_bands: list[str]
    check_digits: _NumericCheckDigits
    roots: _RootPermutation
    persons: list[str]
    businesses: list[str]
    #: CPF chunk sums for digits 1-3, 4-6 and 7-9, see ``_cpf_chunk_sums``.
    cpf_sums: tuple[list[int], list[int], list[int]]


def _shared(values: list[str]) -> list[str]:
    """Return ``values`` with equal strings replaced by one shared object.

    Fewer distinct objects means fewer cache misses in the row loop; the 56%
    of empty trade names, for one, become a single string.
    """
    canonical: dict[str, str] = {}
    return [canonical.setdefault(value, value) for value in values]


def _build_pools(rng: Random, extraction: date, establishments: int) -> _Pools:
    locations = _build_locations(rng)
    cnaes = _build_cnaes(rng)
    kinds = _build_kind_tables(rng)
    email_locals = _build_email_locals(rng)
    email_domains = _build_email_domains(rng)
    suffixes = _weighted_table(
        ["", *[f"{n:02d}" for n in range(100)], *[str(1960 + n) for n in range(66)]],
        [50.0, *[30.0 / 100] * 100, *[20.0 / 66] * 66],
        10,
    )
    accountant_count = max(2, establishments // _CLIENTS_PER_ACCOUNTANT)
    lifecycles = _build_lifecycles(rng, extraction)
    return _Pools(
        lifecycles=lifecycles,
        lifecycle_fields=_shared([lifecycle.fields for lifecycle in lifecycles]),
        lifecycle_specials=_shared([lifecycle.special for lifecycle in lifecycles]),
        cnaes=_shared(cnaes),
        addresses=_shared(_build_addresses(rng)),
        locations=locations,
        location_places=_shared([location.place for location in locations]),
        location_area_codes=[location.area_code for location in locations],
        trade_names=_shared(_build_trade_names(rng)),
        email_locals=email_locals,
        email_domains=email_domains,
        email_suffixes=suffixes,
        invalid_emails=_build_invalid_emails(rng, email_locals, email_domains),
        accountants=_build_accountants(rng, accountant_count, locations),
        kind_table=_weighted_table(kinds, [k.weight for k in kinds], 12),
        branch_counts=_weighted_table(
            [c for c, _ in _BRANCH_COUNTS], [w for _, w in _BRANCH_COUNTS], 16
        ),
        age_bands=_weighted_table([a for a, _ in _AGE_BANDS], [w for _, w in _AGE_BANDS], 6),
        check_digits=_NumericCheckDigits(),
        roots=_RootPermutation.draw(rng),
        persons=_shared([_draw_person(rng) for _ in range(1 << _PERSON_BITS)]),
        businesses=_shared([_draw_business(rng) for _ in range(1 << _BUSINESS_BITS)]),
        cpf_sums=(_cpf_chunk_sums(0), _cpf_chunk_sums(3), _cpf_chunk_sums(6)),
    )


# ---------------------------------------------------------------------------
# Names, roots and partners
# ---------------------------------------------------------------------------


@attrs.frozen
class _RootPermutation:
    """Unique CNPJ roots in a scattered order, with no set of used roots in memory.

    The k-th numeric root is ``(numeric_step * k + numeric_start) mod 10**8``;
    with a step coprime to 10 this visits every 8-digit value once, so each
    part of a month draws from its own range of k and no root repeats. The
    row loop computes numeric roots itself. Alphanumeric roots do the same
    modulo 36**8 and skip values without a letter, so they never collide with
    numeric ones.
    """

    numeric_step: int
    numeric_start: int
    alphanumeric_step: int
    alphanumeric_start: int

    @classmethod
    def draw(cls, rng: Random) -> _RootPermutation:
        return cls(
            numeric_step=cls._coprime(rng, 10**8, (2, 5)),
            numeric_start=rng.randrange(10**8),
            alphanumeric_step=cls._coprime(rng, 36**8, (2, 3)),
            alphanumeric_start=rng.randrange(36**8),
        )

    @staticmethod
    def _coprime(rng: Random, modulus: int, factors: tuple[int, ...]) -> int:
        while True:
            step = rng.randrange(modulus // 3, modulus)
            if all(step % factor for factor in factors):
                return step


class _AlphanumericRoots:
    """Alphanumeric roots of one part, from k = ``first`` up to but excluding ``end``."""

    def __init__(self, permutation: _RootPermutation, first: int, end: int) -> None:
        self._step = permutation.alphanumeric_step
        self._start = permutation.alphanumeric_start
        self._next = first
        self._end = end

    def next(self) -> str:
        while True:
            k = self._next
            if k >= self._end:
                # Unreachable in practice: a part skips about 4 values in 100,000.
                raise RuntimeError("alphanumeric root range of this part is exhausted")
            self._next = k + 1
            root = _base36((self._step * k + self._start) % 36**8, 8)
            if not root.isdigit():
                return root


_PERSON_BITS = 12
_BUSINESS_BITS = 11


def _cpf_chunk_sums(offset: int) -> list[int]:
    """Weighted sums of the 3-digit chunk at ``offset`` of a 9-digit CPF base.

    Indexed like ``_THREE_DIGITS`` and packed like ``_chunk_sums``: first check
    digit in the units, second times 1000. CPF weights are 10..2 for the first
    digit and 11..3 (then 2 for the first check digit) for the second.
    """
    packed = [(10 - position) + 1000 * (11 - position) for position in range(offset, offset + 3)]
    sums = [0]
    for weight in packed:
        sums = [total + digit * weight for total in sums for digit in range(10)]
    return [sums[index % 1000] for index in range(1024)]


def _draw_person(rng: Random) -> str:
    first = _pick(rng, _FIRST_NAMES)
    middle = _pick(rng, _SURNAMES)
    last = _pick(rng, _SURNAMES)
    if rng.random() < 0.15:
        return f"{first} {_pick(rng, _FIRST_NAMES)} {middle} {last}"
    return f"{first} {middle} {last}"


def _draw_business(rng: Random) -> str:
    """Draw the part of a company name before its legal suffix (LTDA, S.A., ...)."""
    activity = _pick(rng, _ACTIVITIES)
    surname = _pick(rng, _SURNAMES)
    draw = rng.random()
    if draw < 0.35:
        prefix = "".join(_pick(rng, _LETTERS) for _ in range(3))
    elif draw < 0.75:
        prefix = surname
    elif draw < 0.87:
        prefix = f"{surname} E {_pick(rng, _SURNAMES)}"
    else:
        prefix = _pick(rng, _TRADE_WORDS)
    return f"{prefix} {activity}"


class _CompanyNamer:
    """Legal names (razão social) in the shapes each legal nature has in real data.

    Person and business names come from the run's pools. The CPF that ends
    individual entrepreneurs' names is drawn per company with valid check
    digits, so it is unique in practice.
    """

    def __init__(self, rng: Random, pools: _Pools) -> None:
        self._bits = rng.getrandbits
        self.persons = pools.persons
        self.businesses = pools.businesses
        self.cpf_sums = pools.cpf_sums
        self._pairs = pools.check_digits.pairs

    def person(self) -> str:
        return self.persons[self._bits(_PERSON_BITS)]

    def business(self) -> str:
        return self.businesses[self._bits(_BUSINESS_BITS)]

    def cpf(self) -> str:
        """Draw an 11-digit CPF with valid check digits."""
        bits = self._bits(30)
        a, b, c = bits & 1023, (bits >> 10) & 1023, bits >> 20
        high, middle, low = self.cpf_sums
        total = high[a] + middle[b] + low[c]
        pair = self._pairs[(total % 1000) % 11 * 11 + (total // 1000) % 11]
        return f"{_THREE_DIGITS[a]}{_THREE_DIGITS[b]}{_THREE_DIGITS[c]}{pair}"

    def name(self, style: str, root: str, location: _Location, draw_bits: int) -> str:
        """Return a legal name. The row loop writes the two commonest shapes itself.

        ``draw_bits`` are the 10 random bits the loop already drew: below 717
        (70%) an individual entrepreneur's name ends with a CPF, below 901
        (88%) a limited company's name ends with plain LTDA.
        """
        draw = draw_bits / 1024
        if style == "person_cpf":
            if draw < 0.7:
                return f"{self.person()} {self.cpf()}"
            # Registrations since 2021 often start with the formatted root.
            if draw < 0.85:
                return f"{root[:2]}.{root[2:5]}.{root[5:]} {self.person()}"
            return self.person()
        if style == "limited":
            if draw < 0.88:
                return self.business() + " LTDA"
            return self.business() + (" LTDA - ME" if draw < 0.96 else " LTDA - EPP")
        if style == "eireli":
            return self.business() + " EIRELI"
        if style == "law_firm":
            return f"{self.person()} SOCIEDADE INDIVIDUAL DE ADVOCACIA"
        if style == "corporation":
            return self.business() + (" S.A." if draw < 0.6 else " S/A")
        if style == "farmer":
            return self.person()
        if style == "scp":
            return f"{self.business()} LTDA - SCP QD. {int(draw * 200)}"
        if style == "candidate":
            year = 2016 + 2 * int(draw * 5)
            office = "VEREADOR" if year % 4 == 0 else "DEPUTADO ESTADUAL"
            return f"ELEICAO {year} {self.person()} {office}"
        if style == "association":
            district = _DISTRICTS[int(draw * len(_DISTRICTS))]
            return f"ASSOCIACAO DE MORADORES DO BAIRRO {district}"
        if style == "condominium":
            return f"CONDOMINIO EDIFICIO {_SURNAMES[int(draw * len(_SURNAMES))]}"
        if style == "church":
            return f"IGREJA EVANGELICA ASSEMBLEIA DE DEUS {_DISTRICTS[int(draw * len(_DISTRICTS))]}"
        city = location.federative_entity.split(" - ")[0] or "SAO PAULO"
        if style == "cooperative":
            return f"COOPERATIVA DOS PRODUTORES DE {city}"
        if style == "municipality":
            return f"MUNICIPIO DE {city}"
        if style == "city_agency":
            return f"SECRETARIA MUNICIPAL DE SAUDE DE {city}"
        return f"{1 + int(draw * 9)}º TABELIÃO DE NOTAS E PROTESTO DE {city}"


#: Partner type cut-offs on 10 random bits: natural persons below 996 (97.3%),
#: companies below 1019 (2.2%), foreigners above (0.5%). The sample had 97.9%,
#: 2% and 0.05%; foreigners are over-represented so that small months contain some.
_NATURAL_PERSON_CUT = 996
_COMPANY_PARTNER_CUT = 1019


class _PartnerWriter:
    """Sócios rows other than the common adult natural person.

    The main loop writes adult natural persons itself, for speed; this class
    writes minors, company partners and foreigners from the same random bits.
    """

    def __init__(self, namer: _CompanyNamer, pools: _Pools) -> None:
        self._namer = namer
        self._age_bands = pools.age_bands
        self._check_digits = pools.check_digits
        self._countries = [code for code, _ in _COUNTRIES if code != "105"]

    def row(self, root: str, qualification: str, joined: str, bits: int) -> str:
        masked = f"***{(bits >> 38) % 1_000_000:06d}**"
        kind = (bits >> 10) & 1023
        persons = self._namer.persons
        if kind < _NATURAL_PERSON_CUT:
            # A minor partner (qualification 30) is represented by a parent;
            # everyone else has the placeholder representative ***000000**.
            name = persons[(bits >> 24) & 4095]
            representative = f"***{(bits >> 20) % 1_000_000:06d}**"
            parent = "14" if bits >> 63 else "15"
            age = "2" if (bits >> 62) & 1 else "1"
            return (
                f'"{root}";"2";"{name}";"{masked}";"30";"{joined}";"";"{representative}";'
                f'"{persons[(bits >> 30) & 4095]}";"{parent}";"{age}"\n'
            )
        if kind < _COMPANY_PARTNER_CUT:
            # Company partner: full 14-digit CNPJ, qualification 22 (Sócio).
            partner_root = (bits >> 24) % 100_000_000
            digits = self._check_digits.digits(self._check_digits.root_sum(partner_root), 1)
            name = f"{self._namer.businesses[bits & 2047]} PARTICIPACOES LTDA"
            if (bits >> 61) & 3 == 0:
                representative = f'"{masked}";"{persons[(bits >> 20) & 4095]}";"05"'
            else:
                representative = '"***000000**";"";"00"'
            return (
                f'"{root}";"1";"{name}";"{partner_root:08d}0001{digits}";"22";"{joined}";"";'
                f'{representative};"0"\n'
            )
        # Foreigner: no CPF or CNPJ, a country, and an attorney (17) as representative.
        name = _FOREIGN_NAMES[(bits >> 24) % len(_FOREIGN_NAMES)]
        company = name.endswith(("S.A.", "LLC", "INC", "SL", "LIMITED", "GMBH"))
        country = self._countries[(bits >> 30) % len(self._countries)]
        age = "0" if company else self._age_bands[(bits >> 58) & 63]
        return (
            f'"{root}";"3";"{name}";"";"{"37" if company else "38"}";"{joined}";"{country}";'
            f'"{masked}";"{persons[(bits >> 20) & 4095]}";"17";"{age}"\n'
        )


# ---------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------


class _MemberFile:
    """One CSV member: a deflated member in its own zip, or a plain file."""

    def __init__(self, path: Path, member: str, *, zipped: bool, large: bool = False) -> None:
        self.path = path
        self._archive: zipfile.ZipFile | None = None
        if zipped:
            # A member opened by name gets ZipInfo's default timestamp
            # (1980-01-01), which keeps the zip bytes the same on every run.
            self._archive = zipfile.ZipFile(
                path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
            )
            self._stream: IO[bytes] = self._archive.open(member, "w", force_zip64=large)
        else:
            self._stream = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(self, text: str) -> None:
        self._stream.write(text.encode("latin-1"))

    def write_bytes(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> None:
        self._stream.close()
        if self._archive is not None:
            self._archive.close()


@attrs.frozen
class _Layout:
    """Directory, names and format (zipped or plain) of a month's files."""

    directory: Path
    code: str
    parts: int
    zipped: bool

    def path(self, kind: str, index: int = 0) -> Path:
        names = zip_names(self.parts) if self.zipped else member_names(self.code, self.parts)
        return self.directory / names[kind][index]

    def open(self, kind: str, index: int = 0, *, large: bool = False) -> _MemberFile:
        member = member_names(self.code, self.parts)[kind][index]
        return _MemberFile(self.path(kind, index), member, zipped=self.zipped, large=large)

    def simples_piece(self, part: int) -> Path:
        """Temporary file for the Simples rows of one part, merged into Simples at the end."""
        return self.directory / f".simples-part{part}.tmp"

    def claim(self, part: int) -> Path:
        """Temporary file whose creation reserves a part for one worker process."""
        return self.directory / f".part{part}.claim"


#: Generous estimates of bytes per establishment for each large file, used to
#: decide when a member needs ZIP64, which only very large months reach.
_MAX_RECORD_BYTES = {"companies": 250, "establishments": 1200, "partners": 1000, "simples": 70}

#: Members expected to exceed 2 GiB are written with ZIP64 headers.
_ZIP64_THRESHOLD = 1 << 31

#: Estabelecimentos rows buffered before the files of a part get one joined
#: write each (about 2 MB for Estabelecimentos).
_BATCH_ROWS = 8192

#: Below this many establishments a month is generated in the calling process
#: by default. A worker costs about 0.3 s of CPU to start (interpreter and
#: pools), and at 30,000 establishments two processes were barely faster than
#: one on a 2-CPU machine.
_PARALLEL_THRESHOLD = 50_000


# ---------------------------------------------------------------------------
# Broken records
# ---------------------------------------------------------------------------

# Offsets in an Estabelecimentos line: '"ROOT0000";"ORDR";"DV";"1";"NAME...'.
_DV_START = 19
_NAME_START = 27

#: Broken records and where they sit, as a fraction of the establishments:
#: the record at index ``position * N`` gets the defect. The duplicated row is
#: copied to the end of its part, away from the original.
_ROW_FAULTS = (
    ("missing_field", 0.1),
    ("line_break", 0.3),
    ("nul_byte", 0.5),
    ("invalid_check_digit", 0.7),
    ("duplicate_row", 0.9),
)


def _record_cnpj(line: str) -> str:
    return line[1:9] + line[12:16] + line[_DV_START : _DV_START + 2]


def _break_record(kind: str, line: str) -> str:
    """Return ``line`` with one defect that Receita deliveries have shown."""
    if kind == "missing_field":
        # A short record, like the Empresas line that made COPY fail with
        # "missing data for column": the last field is gone (29 columns).
        return line[: line.rfind(";")] + "\n"
    if kind == "line_break":
        # A trade name split over two lines inside its quotes, as in a
        # February 2025 Estabelecimentos file.
        end = line.index('";"', _NAME_START + 1)
        return line[:_NAME_START] + '"RESIDENCIAL SWEET HOME II\nINCORPORADORA' + line[end:]
    if kind == "nul_byte":
        # NUL bytes inside rows, as in some 2021 Estabelecimentos files.
        return line[: _NAME_START + 1] + "\x00" + line[_NAME_START + 1 :]
    if kind == "invalid_check_digit":
        digit = line[_DV_START + 1]
        wrong = str((int(digit) + 1) % 10)
        return line[: _DV_START + 1] + wrong + line[_DV_START + 2 :]
    raise ValueError(f"unknown fault kind {kind!r}")


class _PartFaults:
    """Broken records planned for one Estabelecimentos part, applied as batches are written."""

    def __init__(self, planned: tuple[tuple[int, str], ...], path: Path) -> None:
        self._pending = sorted(planned)
        self._path = path
        self.injected: list[InjectedFault] = []
        self.duplicate: str | None = None

    def apply(self, lines: list[str], first_index: int) -> None:
        """Break the planned records among ``lines``, whose first record has ``first_index``."""
        end = first_index + len(lines)
        while self._pending and self._pending[0][0] < end:
            index, kind = self._pending.pop(0)
            line = lines[index - first_index]
            if kind == "duplicate_row":
                self.duplicate = line
                continue
            broken = _break_record(kind, line)
            lines[index - first_index] = broken
            self.injected.append(InjectedFault(kind, self._path, _record_cnpj(broken)))


# ---------------------------------------------------------------------------
# Row generation, one part at a time
# ---------------------------------------------------------------------------


@attrs.frozen
class _PartTask:
    """Everything a worker needs to write one part, picklable for worker processes."""

    layout: _Layout
    seed: int
    extraction: date
    #: Establishments of the whole month, which sizes the accountant pool.
    month_establishments: int
    part: int
    #: Global index of this part's first establishment.
    first_index: int
    quota: int
    #: (index within the part, fault kind) of the broken records to write.
    faults: tuple[tuple[int, str], ...] = ()
    ends_with_empty_line: bool = False


@attrs.frozen
class _PartResult:
    part: int
    companies: int
    establishments: int
    partners: int
    simples: int
    faults: tuple[InjectedFault, ...]


@functools.lru_cache(maxsize=1)
def _pools_for(seed: int, extraction: date, establishments: int) -> _Pools:
    """Build the pools once per process; every part of a month shares them."""
    return _build_pools(Random(seed), extraction, establishments)


def _write_part(task: _PartTask) -> _PartResult:
    """Write Empresas, Estabelecimentos and Socios of one part, and its Simples rows.

    A company's establishments, partners and Simples row are written together,
    so the files agree. Each part has its own random stream and its own range
    of CNPJ roots, so parts can run in any order or in parallel and the
    output stays the same.
    """
    pools = _pools_for(task.seed, task.extraction, task.month_establishments)
    layout = task.layout
    quota = task.quota
    files = {
        kind: layout.open(
            kind, task.part, large=quota * _MAX_RECORD_BYTES[kind] >= _ZIP64_THRESHOLD
        )
        for kind in ("companies", "establishments", "partners")
    }
    simples_file = _MemberFile(layout.simples_piece(task.part), "", zipped=False)
    faults = _PartFaults(task.faults, files["establishments"].path) if task.faults else None
    try:
        counts = _write_rows(
            Random(f"{task.seed}:{task.part}"),
            pools,
            task,
            _Batches(files, simples_file, faults),
        )
        if faults is not None and faults.duplicate is not None:
            files["establishments"].write(faults.duplicate)
            counts["establishments"] += 1
            faults.injected.append(
                InjectedFault(
                    "duplicate_row", files["establishments"].path, _record_cnpj(faults.duplicate)
                )
            )
        injected = list(faults.injected) if faults is not None else []
        if task.ends_with_empty_line:
            files["establishments"].write("\n")
            injected.append(
                InjectedFault("trailing_empty_line", files["establishments"].path, None)
            )
    finally:
        for member in (*files.values(), simples_file):
            member.close()
    return _PartResult(
        part=task.part,
        companies=counts["companies"],
        establishments=counts["establishments"],
        partners=counts["partners"],
        simples=counts["simples"],
        faults=tuple(injected),
    )


class _Batches:
    """Row buffers of one part, written as one joined chunk per file."""

    def __init__(
        self, files: dict[str, _MemberFile], simples_file: _MemberFile, faults: _PartFaults | None
    ) -> None:
        self.companies: list[str] = []
        self.establishments: list[str] = []
        self.partners: list[str] = []
        self.simples: list[str] = []
        self._targets = (
            ("companies", files["companies"], self.companies),
            ("establishments", files["establishments"], self.establishments),
            ("partners", files["partners"], self.partners),
            ("simples", simples_file, self.simples),
        )
        self._faults = faults
        self.counts = {"companies": 0, "establishments": 0, "partners": 0, "simples": 0}

    def flush(self) -> None:
        for kind, member, lines in self._targets:
            if not lines:
                continue
            if kind == "establishments" and self._faults is not None:
                self._faults.apply(lines, self.counts["establishments"])
            self.counts[kind] += len(lines)
            member.write("".join(lines))
            lines.clear()


def _write_rows(rng: Random, pools: _Pools, task: _PartTask, batches: _Batches) -> dict[str, int]:
    """Generate the rows of one part into ``batches`` and return the records per file kind.

    The body is one long loop on purpose: local names, table lookups in place
    of format specs, and inline formatting of the common cases are what make
    it fast. Random bits are sliced from 64-bit draws, one slice per decision.
    """
    getrandbits = rng.getrandbits
    permutation = pools.roots
    root_step, root_start = permutation.numeric_step, permutation.numeric_start
    # Part p owns k in [first_index, first_index + quota) of the numeric
    # permutation and twice that range of the alphanumeric one, since a part
    # never has more companies than establishments.
    root_index = task.first_index
    alphanumeric_roots = _AlphanumericRoots(
        permutation, 2 * task.first_index, 2 * (task.first_index + task.quota)
    )
    namer = _CompanyNamer(rng, pools)
    company_name = namer.name
    persons = namer.persons
    businesses = namer.businesses
    cpf_high, cpf_middle, cpf_low = namer.cpf_sums
    partner_row = _PartnerWriter(namer, pools).row
    check = pools.check_digits
    sums_1, sums_2, sums_3, sums_4 = check.root_chunks
    order_sums, digit_pairs = check.order, check.pairs
    two_digits = _TWO_DIGITS
    three_digits = _THREE_DIGITS
    four_digits = _FOUR_DIGITS
    kind_table = pools.kind_table
    branch_counts = pools.branch_counts
    lifecycles = pools.lifecycles
    lifecycle_fields = pools.lifecycle_fields
    lifecycle_specials = pools.lifecycle_specials
    trade_names = pools.trade_names
    cnae_pool = pools.cnaes
    addresses = pools.addresses
    locations = pools.locations
    location_places = pools.location_places
    location_area_codes = pools.location_area_codes
    accountants = pools.accountants
    accountant_count = len(accountants)
    email_locals = pools.email_locals
    email_domains = pools.email_domains
    email_suffixes = pools.email_suffixes
    invalid_emails = pools.invalid_emails
    age_bands = pools.age_bands
    phone_shapes = _PHONE_SHAPES
    phone_prefixes = _PHONE_PREFIXES
    email_shapes = _EMAIL_SHAPES
    phone_fields = _phone_fields
    alphanumeric_cut = round(_ALPHANUMERIC_SHARE * 1024)
    accountant_cut = round(_ACCOUNTANT_SHARE * 1024)
    natural_person_cut = _NATURAL_PERSON_CUT
    no_phones = _NO_PHONES
    company_append = batches.companies.append
    establishment_lines = batches.establishments
    establishment_append = establishment_lines.append
    partner_append = batches.partners.append
    simples_append = batches.simples.append
    quota = task.quota
    written = 0

    while written < quota:
        # Company: kind, number of establishments, root.
        bits = getrandbits(64)
        kind = kind_table[bits & 4095]
        branches = branch_counts[(bits >> 12) & 65535]
        if branches > quota - written:
            branches = quota - written
        written += branches
        if ((bits >> 28) & 1023) < alphanumeric_cut:
            root = alphanumeric_roots.next()
            root_sum = -1
            branch_letter = _LETTERS[(bits >> 38) % 26]
        else:
            number = (root_step * root_index + root_start) % 100_000_000
            root_index += 1
            a, b = number // 1_000_000, number // 10_000 % 100
            c, d = number // 100 % 100, number % 100
            root = f"{two_digits[a]}{two_digits[b]}{two_digits[c]}{two_digits[d]}"
            root_sum = sums_1[a] + sums_2[b] + sums_3[c] + sums_4[d]
            branch_letter = ""
        nature_cnaes = kind.cnaes

        head_life = head_place = 0
        for branch in range(1, branches + 1):
            if branch == 1:
                order = "0001"
                head_office = "1"
            elif branch_letter:
                # Branches of alphanumeric companies get letters in the order too.
                order = branch_letter + _base36(branch, 3)
                head_office = "2"
            else:
                order = four_digits[branch]
                head_office = "2"
            if root_sum < 0:
                digits = check_digits(root + order)
            else:
                total = root_sum + order_sums[branch]
                digits = digit_pairs[(total % 1000) % 11 * 11 + (total // 1000) % 11]

            bits = getrandbits(64)
            life = bits & 4095
            trade_name = trade_names[(bits >> 12) & 4095]
            if nature_cnaes is None:
                cnae = cnae_pool[(bits >> 24) & 4095]
            else:
                cnae = nature_cnaes[(bits >> 24) & 15]
            address = addresses[(bits >> 36) & 4095]
            contact = (bits >> 48) & 1023
            bits = getrandbits(64)
            place = bits & 4095
            if branch == 1:
                head_life = life
                head_place = place

            area_code = location_area_codes[place]
            if contact < accountant_cut:
                accountant = accountants[(bits >> 12) % accountant_count]
                phones = accountant.phones
                email = accountant.email
            else:
                shape = phone_shapes[(bits >> 12) & 1023]
                if shape == _PHONE_NONE or area_code is None:
                    phones = no_phones
                elif shape == _PHONE_ONE:
                    phones = (
                        f'"{area_code}";"{phone_prefixes[(bits >> 22) & 127]}'
                        f"{three_digits[(bits >> 29) & 1023]}"
                        f'{three_digits[(bits >> 39) & 1023]}";"";"";"";""'
                    )
                else:
                    phones = phone_fields(shape, area_code, getrandbits(64))
                shape = email_shapes[(bits >> 49) & 1023]
                if shape == _EMAIL_NONE:
                    email = '""'
                else:
                    bits = getrandbits(32)
                    email = (
                        f'"{email_locals[bits & 2047]}{email_suffixes[(bits >> 11) & 1023]}'
                        f'@{email_domains[(bits >> 21) & 1023]}"'
                    )
                    if shape == _EMAIL_LOWER:
                        email = email.lower()
                    elif shape == _EMAIL_MIXED:
                        email = email.title() if bits & 1 else email.capitalize()
                    elif shape == _EMAIL_INVALID:
                        email = invalid_emails[(bits >> 1) & 255]

            if area_code is not None:
                establishment_append(
                    f'"{root}";"{order}";"{digits}";"{head_office}";{trade_name};'
                    f"{lifecycle_fields[life]};{cnae};{address};{location_places[place]};"
                    f"{phones};{email};{lifecycle_specials[life]}\n"
                )
            else:
                # Abroad: city and country come from the location.
                lifecycle = lifecycles[life]
                location = locations[place]
                establishment_append(
                    f'"{root}";"{order}";"{digits}";"{head_office}";{trade_name};'
                    f"{lifecycle.status};{location.abroad};{lifecycle.opening_field};{cnae};"
                    f"{address};{location.place};{phones};{email};{lifecycle.special}\n"
                )

        head_lifecycle = lifecycles[head_life]
        head_location = locations[head_place]
        bits = getrandbits(64)
        style = kind.name_style
        draw = bits & 1023
        if style == "person_cpf" and draw < 717:
            # Most individual entrepreneurs (70% here) get a name ending with an
            # 11-digit CPF with valid check digits; 16% of all real Empresas
            # rows have this shape.
            a, b, c = (bits >> 10) & 1023, (bits >> 20) & 1023, (bits >> 30) & 1023
            total = cpf_high[a] + cpf_middle[b] + cpf_low[c]
            name = (
                f"{persons[(bits >> 40) & 4095]} {three_digits[a]}{three_digits[b]}"
                f"{three_digits[c]}{digit_pairs[(total % 1000) % 11 * 11 + (total // 1000) % 11]}"
            )
        elif style == "limited" and draw < 901:
            name = f"{businesses[(bits >> 10) & 2047]} LTDA"
        else:
            name = company_name(style, root, head_location, draw)
        entity = head_location.federative_entity if kind.public_body else ""
        bits = getrandbits(16)
        company_append(
            f'"{root}";"{name}";{kind.nature_fields};"{kind.capitals[bits & 63]}";'
            f'"{kind.sizes[bits >> 6]}";"{entity}"\n'
        )

        bits = getrandbits(64)
        partner_count = kind.partner_counts[bits & 1023]
        if partner_count:
            qualifications = kind.partner_qualifications
            joined_dates = head_lifecycle.joined
            for _ in range(partner_count):
                bits = getrandbits(64)
                qualification = qualifications[bits & 1023]
                joined = joined_dates[(bits >> 20) & 7]
                if ((bits >> 10) & 1023) < natural_person_cut and qualification != "30":
                    partner_append(
                        f'"{root}";"2";"{persons[(bits >> 24) & 4095]}";'
                        f'"***{three_digits[(bits >> 38) & 1023]}'
                        f'{three_digits[(bits >> 48) & 1023]}**";"{qualification}";'
                        f'"{joined}";"";"***000000**";"";"00";"{age_bands[(bits >> 58) & 63]}"\n'
                    )
                else:
                    partner_append(partner_row(root, qualification, joined, bits))
            bits = getrandbits(64)
        if ((bits >> 10) & 1023) < kind.simples_cut:
            if kind.nature == "2135":
                simples_append(f'"{root}";{head_lifecycle.simples_individual}')
            else:
                simples_append(f'"{root}";{head_lifecycle.simples_company}')

        if len(establishment_lines) >= _BATCH_ROWS:
            batches.flush()

    batches.flush()
    return batches.counts


def _merge_simples(layout: _Layout, large: bool) -> Path:
    """Concatenate the Simples rows of every part, in part order, into the Simples member."""
    member = layout.open("simples", 0, large=large)
    try:
        for part in range(layout.parts):
            piece = layout.simples_piece(part)
            with piece.open("rb") as source:
                while chunk := source.read(1 << 22):
                    member.write_bytes(chunk)
            piece.unlink()
    finally:
        member.close()
    return member.path


# ---------------------------------------------------------------------------
# Lookup tables and the Tesouro municipality table
# ---------------------------------------------------------------------------


def _lookup_rows() -> dict[str, list[tuple[str, str]]]:
    municipalities = [(tom, name) for tom, name, *_ in _MUNICIPALITIES]
    municipalities.append(_ABROAD_MUNICIPALITY)
    return {
        "cnaes": [(code, description) for code, _, _, description in _CNAES],
        "reasons": list(_REASONS),
        "municipalities": sorted(municipalities),
        "legal_natures": list(_LEGAL_NATURES),
        "countries": list(_COUNTRIES),
        "qualifications": list(_QUALIFICATIONS),
    }


def _write_lookups(layout: _Layout) -> dict[str, int]:
    counts = {}
    for kind, rows in _lookup_rows().items():
        member = layout.open(kind)
        try:
            member.write("".join(f'"{code}";"{text}"\n' for code, text in rows))
        finally:
            member.close()
        counts[kind] = len(rows)
    return counts


def _write_tabmun(directory: Path) -> tuple[Path, int]:
    """Write Tesouro Nacional's SIAFI municipality table for the municipalities used.

    Columns: TOM code; CNPJ of the prefeitura; name padded with spaces to 45
    characters; UF; IBGE code. No header, CRLF line ends, as Tesouro ships it.
    """
    path = directory / "tabmun.csv"
    lines = [
        f"{tom};{cnpj};{name:<45};{uf};{ibge}\r\n"
        for tom, name, uf, ibge, cnpj, *_ in sorted(_MUNICIPALITIES)
    ]
    path.write_bytes("".join(lines).encode("latin-1"))
    return path, len(lines)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def _plan_parts(
    layout: _Layout, seed: int, extraction: date, establishments: int, faults: bool
) -> list[_PartTask]:
    """Split the establishments over the parts and place the broken records."""
    base, extra = divmod(establishments, layout.parts)
    quotas = [base + (1 if part < extra else 0) for part in range(layout.parts)]
    firsts = [sum(quotas[:part]) for part in range(layout.parts)]
    planned: dict[int, list[tuple[int, str]]] = {}
    empty_line_part = -1
    if faults:
        for kind, position in _ROW_FAULTS:
            index = int(position * establishments)
            part = max(p for p in range(layout.parts) if firsts[p] <= index and quotas[p] > 0)
            planned.setdefault(part, []).append((index - firsts[part], kind))
        empty_line_part = max(p for p in range(layout.parts) if quotas[p] > 0)
    return [
        _PartTask(
            layout=layout,
            seed=seed,
            extraction=extraction,
            month_establishments=establishments,
            part=part,
            first_index=firsts[part],
            quota=quotas[part],
            faults=tuple(planned.get(part, ())),
            ends_with_empty_line=part == empty_line_part,
        )
        for part in range(layout.parts)
    ]


def _run_parts(tasks: list[_PartTask], workers: int) -> list[_PartResult]:
    """Write the parts in this process and ``workers - 1`` child processes.

    Every process walks the parts in order and writes those it claims first,
    so a child that starts late simply writes fewer parts. Children are fresh
    interpreters running ``_worker_main``: the calling program needs no
    ``if __name__ == "__main__"`` guard (multiprocessing's spawn would
    re-import it) and no fork happens in a process that may run threads.
    """
    if workers <= 1:
        return [_write_part(task) for task in tasks]
    children = [_start_worker(tasks) for _ in range(workers - 1)]
    try:
        results = _write_claimed_parts(tasks)
        for child in children:
            results.extend(_finish_worker(child))
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        raise
    finally:
        for task in tasks:
            task.layout.claim(task.part).unlink(missing_ok=True)
    return sorted(results, key=lambda result: result.part)


def _write_claimed_parts(tasks: list[_PartTask]) -> list[_PartResult]:
    results = []
    for task in tasks:
        try:
            # Creating the claim file fails if another process created it first.
            os.close(os.open(task.layout.claim(task.part), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        results.append(_write_part(task))
    return results


def _start_worker(tasks: list[_PartTask]) -> subprocess.Popen[bytes]:
    project_root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (project_root, environment.get("PYTHONPATH")) if path
    )
    # The tasks travel as one base64 argument: a few hundred bytes per part.
    payload = base64.b64encode(pickle.dumps(tasks)).decode("ascii")
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER_COMMAND, payload],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )


def _finish_worker(child: subprocess.Popen[bytes]) -> list[_PartResult]:
    output, errors = child.communicate()
    if child.returncode != 0:
        detail = errors.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(
            f"synthetic worker process failed with exit code {child.returncode}: "
            + " | ".join(detail)
        )
    results: list[_PartResult] = pickle.loads(output)
    return results


_WORKER_COMMAND = "from adapters.receita.synthetic import _worker_main; _worker_main()"


def _worker_main() -> None:
    """Entry point of a worker process: read tasks from argv, write results on stdout.

    Only ``_run_parts`` starts workers, so the pickles come from this module
    in the parent process.
    """
    tasks: list[_PartTask] = pickle.loads(base64.b64decode(sys.argv[1]))
    results = _write_claimed_parts(tasks)
    sys.stdout.buffer.write(pickle.dumps(results))


def generate_month(
    out_dir: Path,
    establishments: int,
    *,
    seed: int = 1,
    parts: int = 10,
    zipped: bool = True,
    reference: str = "2026-11",
    faults: bool = False,
    workers: int | None = None,
) -> GeneratedMonth:
    """Write a synthetic monthly CNPJ dump with ``establishments`` Estabelecimentos rows.

    ``out_dir`` is created if needed; files already there with the same names
    are overwritten. With ``zipped=False`` the CSV members are written as plain
    files named like the members. ``reference`` is the delivery month
    (``YYYY-MM``): it sets the extraction code in member names and the latest
    date in the data. ``faults=True`` adds the broken records listed in
    ``FAULT_KINDS`` to the Estabelecimentos files and needs at least 5
    establishments.

    ``workers`` sets how many processes write parts in parallel: this one and
    ``workers - 1`` child interpreters. The default is one below 50,000
    establishments, and from there one per CPU but at most ``parts``. The files
    are the same for any number of workers.
    """
    extraction = _parse_reference(reference)
    if establishments < 0:
        raise ValueError(f"invalid establishments {establishments}: must be 0 or more")
    if parts < 1:
        raise ValueError(f"invalid parts {parts}: must be 1 or more")
    if faults and establishments < len(_ROW_FAULTS):
        raise ValueError(
            f"faults=True needs at least {len(_ROW_FAULTS)} establishments, got {establishments}"
        )
    if workers is None:
        cpus = os.cpu_count() or 1
        workers = 1 if establishments < _PARALLEL_THRESHOLD else min(parts, cpus)
    elif workers < 1:
        raise ValueError(f"invalid workers {workers}: must be 1 or more")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = _Layout(out_dir, extraction_code(extraction), parts, zipped)
    tasks = _plan_parts(layout, seed, extraction, establishments, faults)
    try:
        results = _run_parts(tasks, workers)
        simples_path = _merge_simples(
            layout, establishments * _MAX_RECORD_BYTES["simples"] >= _ZIP64_THRESHOLD
        )
    finally:
        for part in range(parts):
            layout.simples_piece(part).unlink(missing_ok=True)
    lookup_counts = _write_lookups(layout)
    tabmun_path, tabmun_rows = _write_tabmun(out_dir)

    paths = {
        kind: tuple(layout.path(kind, index) for index in range(parts))
        for kind in ("companies", "establishments", "partners")
    }
    paths["simples"] = (simples_path,)
    paths.update({kind: (layout.path(kind),) for kind in lookup_counts})
    paths["tabmun"] = (tabmun_path,)
    rows = {
        "companies": sum(result.companies for result in results),
        "establishments": sum(result.establishments for result in results),
        "partners": sum(result.partners for result in results),
        "simples": sum(result.simples for result in results),
        **lookup_counts,
        "tabmun": tabmun_rows,
    }
    return GeneratedMonth(
        directory=out_dir,
        reference=reference,
        extraction_code=layout.code,
        seed=seed,
        paths={kind: paths[kind] for kind in FILE_KINDS},
        rows={kind: rows[kind] for kind in FILE_KINDS},
        faults=tuple(fault for result in results for fault in result.faults),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Generate a month from the command line and print the records written per file kind."""
    parser = argparse.ArgumentParser(
        prog="python -m adapters.receita.synthetic",
        description="Write a synthetic monthly CNPJ dump in the Receita Federal format.",
    )
    parser.add_argument("out_dir", type=Path, help="directory for the zips and tabmun.csv")
    parser.add_argument(
        "--establishments", type=int, default=100_000, help="Estabelecimentos rows (default 100000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--parts", type=int, default=10, help="parts of the large files (default 10)"
    )
    parser.add_argument(
        "--reference", default="2026-11", help="delivery month as YYYY-MM (default 2026-11)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes writing parts in parallel (default: one per CPU from 50000 rows)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="write plain CSV members instead of zips"
    )
    parser.add_argument(
        "--faults", action="store_true", help="add broken records that ingestion must handle"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        month = generate_month(
            args.out_dir,
            args.establishments,
            seed=args.seed,
            parts=args.parts,
            zipped=not args.plain,
            reference=args.reference,
            faults=args.faults,
            workers=args.workers,
        )
    except ValueError as error:
        parser.error(str(error))
    elapsed = time.perf_counter() - started

    print(f"month {month.reference} ({month.extraction_code}) in {month.directory}")
    for kind in FILE_KINDS:
        print(f"{kind:<16}{month.rows[kind]:>12}")
    print(f"{'faults':<16}{month.fault_count:>12}")
    print(
        f"{'seconds':<16}{elapsed:>12.2f}  "
        f"({month.establishments / max(elapsed, 1e-9):,.0f} establishments/s, "
        f"{month.source_rows / max(elapsed, 1e-9):,.0f} source rows/s)"
    )
    return 0


if __name__ == "__main__":
    # Run the package module's main, not this __main__ copy, so the tasks
    # pickled for worker processes name classes the workers can import.
    from adapters.receita.synthetic import main as package_main

    sys.exit(package_main())
