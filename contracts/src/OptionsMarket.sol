// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {MemoryTables} from "./MemoryTables.sol";

// (About 775 lines: one contract holds the series, quote records and nonces and every entry
// point that moves them; the memory tables are a library (MemoryTables.sol). Splitting the
// quote and package fills into an abstract base with the shared storage is possible, not done.)

/// @title OptionsMarket
/// @notice European options on ERC-20 underlyings, quoted and cash-settled in a stablecoin.
///
/// Series. A series is (underlying, quote, strike, expiry, call/put) plus its contract size and
/// the price feed of its underlying, listed by the owner or a lister. Ids are sequential from 1;
/// the ERC-1155 id of the long position is `2 * seriesId`, of the short `2 * seriesId + 1`.
///
/// Units. One token unit is one contract of `contractSize` underlying base units (e.g. 1e17 =
/// 0.1 WETH, 1e6 = 0.01 WBTC). `strike` and the settlement price are quote-token base units per
/// one whole underlying (10**underlyingDecimals base units): a 3,000 USDC strike is 3000e6.
/// Premiums are quote-token base units per contract. Collateral per contract is `contractSize`
/// underlying for a call and `strike * contractSize / 10**underlyingDecimals` quote for a put
/// (listing requires that to be exact).
///
/// Trading is by RFQ: a maker signs an EIP-712 `Quote` (EOA or ERC-1271 contract such as a Safe)
/// and a taker fills it, in part when the quote allows. The seller of each fill writes: it posts
/// the collateral, receives the short tokens and the premium; the buyer receives the long tokens.
///
/// Settlement. After expiry anyone settles a series with the first round of its feed updated at
/// or after expiry, however late it comes (feeds with a heartbeat longer than an hour may post
/// nothing for hours; the collateral is never locked for want of a timely round), with a
/// positive answer and `answeredInRound >= roundId`). A long then redeems `payoffPerContract`; a short withdraws the
/// rest of the collateral. Call payoffs are paid in the underlying (worth (S - K) per whole
/// underlying), put payoffs in the quote token; both are floored per contract, so the market
/// never owes more than it holds.
///
/// `multicall` (OpenZeppelin's, no ETH accepted anywhere) batches calls of one sender, e.g. a
/// lister's listings or a keeper's settlements.
contract OptionsMarket is ERC1155, EIP712, Ownable, ReentrancyGuardTransient, Multicall {
    using SafeERC20 for IERC20;

    /// Field order packs storage: settle() writes two slots.
    struct Series {
        address underlying;
        address quote;
        bool settled;
        AggregatorV3Interface feed;
        uint64 expiry;
        bool isCall;
        uint8 underlyingDecimals;
        uint8 quoteDecimals;
        uint8 feedDecimals;
        uint256 strike;
        uint256 contractSize;
        /// collateral token base units locked per contract written (< 2**128)
        uint256 collateralPerContract;
        /// set by settle(): quote base units per whole underlying
        uint128 settlementPrice;
        /// set by settle(): collateral token base units a long receives per contract
        uint128 payoffPerContract;
    }

    /// A maker's signed offer. `makerSells`: the maker sells (writes) and the taker buys.
    /// `taker` is the only address that may fill, or address(0) for anyone. `premium` is in quote
    /// base units per contract; `size` in contracts; `deadline` a unix time (inclusive); `nonce`
    /// must equal the maker's current nonce; `allowPartial` lets takers fill less than `size`
    /// (the filled amount is tracked per quote hash); `salt` tells equal quotes apart.
    struct Quote {
        address maker;
        address taker;
        uint256 seriesId;
        bool makerSells;
        uint256 size;
        uint256 premium;
        uint256 deadline;
        uint256 nonce;
        bool allowPartial;
        uint256 salt;
    }

    /// One leg of a `Package`: `ratio` contracts of series `seriesId` per unit of the package,
    /// sold (written) by the maker when `makerSells`, at `premium` quote base units per contract.
    struct Leg {
        uint256 seriesId;
        bool makerSells;
        uint256 ratio;
        uint256 premium;
    }

    /// A maker's signed offer for a whole structure (a package quote): every leg fills together,
    /// `units` at a time (each leg `units * ratio` contracts), at most `size` units in all, with
    /// one signature, one deadline / nonce / taker check and one fill record for all legs, and
    /// the premium netted into one transfer. All legs settle in one quote token; `taker`,
    /// `deadline`, `nonce`, `allowPartial` (here: fewer than `size` units) and `salt` as in `Quote`.
    struct Package {
        address maker;
        address taker;
        Leg[] legs;
        uint256 size;
        uint256 deadline;
        uint256 nonce;
        bool allowPartial;
        uint256 salt;
    }

    bytes32 public constant LEG_TYPEHASH =
        keccak256("Leg(uint256 seriesId,bool makerSells,uint256 ratio,uint256 premium)");
    bytes32 public constant PACKAGE_TYPEHASH = keccak256(
        "Package(address maker,address taker,Leg[] legs,uint256 size,uint256 deadline,uint256 nonce,"
        "bool allowPartial,uint256 salt)Leg(uint256 seriesId,bool makerSells,uint256 ratio,uint256 premium)"
    );
    uint256 public constant MAX_PACKAGE_LEGS = 16;

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address maker,address taker,uint256 seriesId,bool makerSells,uint256 size,"
        "uint256 premium,uint256 deadline,uint256 nonce,bool allowPartial,uint256 salt)"
    );

    uint256 public seriesCount;
    mapping(uint256 seriesId => Series) private _series;
    mapping(bytes32 key => uint256 seriesId) public seriesIdOf;
    mapping(address underlying => AggregatorV3Interface) public feedOf;
    mapping(address account => bool) public isLister;
    mapping(address maker => uint256) public nonces;
    /// Per quote (or package) hash, one slot read once per fill: the contracts (package units)
    /// filled, and `_CANCELLED` set once the maker cancelled it (`filled` and `cancelled` read it).
    mapping(bytes32 quoteHash => uint256) private _quoteState;
    uint256 private constant _CANCELLED = 1 << 255;

    event ListerSet(address indexed account, bool enabled);
    event FeedSet(address indexed underlying, address indexed feed);
    event SeriesListed(
        uint256 indexed seriesId,
        address indexed underlying,
        address indexed quote,
        uint256 strike,
        uint64 expiry,
        bool isCall,
        uint256 contractSize,
        address feed
    );
    event Written(uint256 indexed seriesId, address indexed writer, uint256 amount, uint256 collateral);
    event QuoteFilled(
        bytes32 indexed quoteHash,
        address indexed maker,
        address indexed taker,
        uint256 seriesId,
        bool makerSells,
        uint256 amount,
        uint256 premiumTotal,
        uint256 filledTotal
    );
    /// One fill of a package: `units` more (`filledTotal` in all); `premiumPaid` is what the
    /// taker owed for the legs the maker sold, `premiumReceived` what the maker owed for the legs
    /// it bought (only their difference moved). The legs' positions show in `TransferBatch`.
    event PackageFilled(
        bytes32 indexed packageHash,
        address indexed maker,
        address indexed taker,
        uint256 units,
        uint256 filledTotal,
        uint256 premiumPaid,
        uint256 premiumReceived
    );
    event QuoteCancelled(bytes32 indexed quoteHash, address indexed maker);
    event NonceBumped(address indexed maker, uint256 newNonce);
    event Closed(uint256 indexed seriesId, address indexed account, uint256 amount, uint256 collateral);
    event Settled(uint256 indexed seriesId, uint80 roundId, uint256 price, uint256 payoffPerContract);
    event Redeemed(uint256 indexed seriesId, address indexed holder, uint256 amount, uint256 payout);
    event Withdrawn(uint256 indexed seriesId, address indexed writer, uint256 amount, uint256 payout);

    error NotLister(address caller);
    error InvalidSeries(string reason);
    error SeriesExists(uint256 seriesId);
    error UnknownSeries(uint256 seriesId);
    error NoFeed(address underlying);
    error SeriesExpired(uint256 seriesId, uint64 expiry);
    error NotExpired(uint256 seriesId, uint64 expiry);
    error AlreadySettled(uint256 seriesId);
    error NotSettled(uint256 seriesId);
    error ZeroAmount();
    error BatchLengths(uint256 quotes, uint256 signatures, uint256 amounts);
    error QuoteExpired(bytes32 quoteHash, uint256 deadline);
    error QuoteIsCancelled(bytes32 quoteHash);
    error StaleNonce(address maker, uint256 quoteNonce, uint256 currentNonce);
    error WrongTaker(address taker, address caller);
    error SelfTrade(address account);
    error Overfill(bytes32 quoteHash, uint256 size, uint256 alreadyFilled, uint256 amount);
    error PartialFillNotAllowed(bytes32 quoteHash, uint256 size, uint256 amount);
    error BadSignature(bytes32 quoteHash, address maker);
    error InvalidPackage(uint256 leg, string reason);
    error NotMaker(address maker, address caller);
    error RoundBeforeExpiry(uint80 roundId, uint256 updatedAt, uint64 expiry);
    error NotFirstRoundAfterExpiry(uint80 roundId, uint80 earlierRoundId, uint256 earlierUpdatedAt);
    error IncompleteRound(uint80 roundId, uint80 answeredInRound);
    error BadPrice(uint80 roundId, int256 answer);

    modifier onlyLister() {
        if (msg.sender != owner() && !isLister[msg.sender]) revert NotLister(msg.sender);
        _;
    }

    constructor(address initialOwner, string memory uri_)
        ERC1155(uri_)
        EIP712("OptionsMarket", "1")
        Ownable(initialOwner)
    {}

    // -- administration ----------------------------------------------------------------------

    function setLister(address account, bool enabled) external onlyOwner {
        isLister[account] = enabled;
        emit ListerSet(account, enabled);
    }

    /// @notice The price feed (quote-currency, e.g. USD, per whole underlying) for new series.
    function setFeed(address underlying, AggregatorV3Interface feed) external onlyOwner {
        feedOf[underlying] = feed;
        emit FeedSet(underlying, address(feed));
    }

    /// @notice List a series; the feed of the underlying at this moment is the series' feed.
    function listSeries(
        address underlying,
        address quote,
        uint256 strike,
        uint64 expiry,
        bool isCall,
        uint256 contractSize
    ) external onlyLister returns (uint256 seriesId) {
        if (underlying == address(0) || quote == address(0) || underlying == quote) {
            revert InvalidSeries("underlying and quote must be two distinct tokens");
        }
        if (strike == 0) revert InvalidSeries("strike must be > 0");
        if (contractSize == 0) revert InvalidSeries("contract size must be > 0");
        if (expiry <= block.timestamp) revert InvalidSeries("expiry must be in the future");
        AggregatorV3Interface feed = feedOf[underlying];
        if (address(feed) == address(0)) revert NoFeed(underlying);
        bytes32 key = keccak256(abi.encode(underlying, quote, strike, expiry, isCall, contractSize));
        if (seriesIdOf[key] != 0) revert SeriesExists(seriesIdOf[key]);

        uint8 uDec = IERC20Metadata(underlying).decimals();
        uint8 qDec = IERC20Metadata(quote).decimals();
        uint8 fDec = feed.decimals();
        if (uDec > 36 || qDec > 36 || fDec > 36) revert InvalidSeries("decimals above 36");
        uint256 collateral;
        if (isCall) {
            collateral = contractSize;
        } else {
            if ((strike * contractSize) % (10 ** uDec) != 0) {
                revert InvalidSeries("put collateral strike * contractSize / 10**decimals is not whole");
            }
            collateral = (strike * contractSize) / (10 ** uDec);
        }
        if (collateral >= 2 ** 128) revert InvalidSeries("collateral per contract must be below 2**128");

        seriesId = ++seriesCount;
        seriesIdOf[key] = seriesId;
        Series storage s = _series[seriesId];
        s.underlying = underlying;
        s.quote = quote;
        s.feed = feed;
        s.expiry = expiry;
        s.isCall = isCall;
        s.underlyingDecimals = uDec;
        s.quoteDecimals = qDec;
        s.feedDecimals = fDec;
        s.strike = strike;
        s.contractSize = contractSize;
        s.collateralPerContract = collateral;
        emit SeriesListed(seriesId, underlying, quote, strike, expiry, isCall, contractSize, address(feed));
    }

    // -- views -------------------------------------------------------------------------------

    function series(uint256 seriesId) external view returns (Series memory) {
        return _existing(seriesId);
    }

    function longId(uint256 seriesId) public pure returns (uint256) {
        return seriesId << 1;
    }

    function shortId(uint256 seriesId) public pure returns (uint256) {
        return (seriesId << 1) | 1;
    }

    /// @notice The token writers lock: the underlying for a call, the quote for a put.
    function collateralToken(uint256 seriesId) public view returns (address) {
        Series storage s = _existing(seriesId);
        return s.isCall ? s.underlying : s.quote;
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The EIP-712 digest a maker signs for `q`; also the key of `filled` and `cancelled`.
    function hashQuote(Quote calldata q) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(QUOTE_TYPEHASH, q)));
    }

    /// @notice Contracts of `q` still fillable now (0 if expired, cancelled or nonce-bumped).
    function remaining(Quote calldata q) external view returns (uint256) {
        bytes32 h = hashQuote(q);
        uint256 state = _quoteState[h];
        if (state & _CANCELLED != 0 || q.nonce != nonces[q.maker] || block.timestamp > q.deadline) return 0;
        if (_series[q.seriesId].expiry <= block.timestamp) return 0;
        return q.size - state;
    }

    /// @notice The EIP-712 digest a maker signs for the package `p`; also its record's key.
    function hashPackage(Package calldata p) public view returns (bytes32) {
        return _hashPackageCalldata(p);
    }

    /// @notice Units of package `p` still fillable now (0 if expired, cancelled, nonce-bumped,
    ///         any leg's series expired or unknown, or a shape `fillPackage` refuses: no or
    ///         more than 16 legs, a zero ratio, legs in different quote tokens).
    function remainingPackage(Package calldata p) external view returns (uint256) {
        uint256 state = _quoteState[_hashPackageCalldata(p)];
        if (state & _CANCELLED != 0 || p.nonce != nonces[p.maker] || block.timestamp > p.deadline) return 0;
        uint256 n = p.legs.length;
        if (n == 0 || n > MAX_PACKAGE_LEGS) return 0;
        address quoteToken = _series[p.legs[0].seriesId].quote;
        for (uint256 i = 0; i < n; ++i) {
            Series storage s = _series[p.legs[i].seriesId];
            if (s.expiry <= block.timestamp || p.legs[i].ratio == 0 || s.quote != quoteToken) return 0;
        }
        return state >= p.size ? 0 : p.size - state;
    }

    /// @notice Contracts filled so far of the quote with EIP-712 digest `quoteHash` (units of a
    ///         package with that digest).
    function filled(bytes32 quoteHash) external view returns (uint256) {
        return _quoteState[quoteHash] & ~_CANCELLED;
    }

    /// @notice Whether the maker cancelled the quote with EIP-712 digest `quoteHash`.
    function cancelled(bytes32 quoteHash) external view returns (bool) {
        return _quoteState[quoteHash] & _CANCELLED != 0;
    }

    // -- writing and trading -----------------------------------------------------------------

    /// @notice Lock collateral for `amount` contracts and receive both the long and the short.
    function write(uint256 seriesId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Series storage s = _existing(seriesId);
        _requireOpen(seriesId, s);
        uint256 collateral = amount * s.collateralPerContract;
        IERC20(s.isCall ? s.underlying : s.quote).safeTransferFrom(msg.sender, address(this), collateral);
        emit Written(seriesId, msg.sender, amount, collateral);
        _mint(msg.sender, longId(seriesId), amount, "");
        _mint(msg.sender, shortId(seriesId), amount, "");
    }

    /// @notice Fill `amount` contracts of a signed quote; the caller is the taker. The seller
    ///         posts the collateral and gets the short tokens and the premium; the buyer pays the
    ///         premium and gets the long tokens. Returns the premium paid.
    function fill(Quote calldata q, bytes calldata signature, uint256 amount)
        external
        nonReentrant
        returns (uint256 premiumTotal)
    {
        Series storage s;
        (s, premiumTotal) = _take(q, signature, amount);
        (address seller, address buyer) = q.makerSells ? (q.maker, msg.sender) : (msg.sender, q.maker);
        IERC20(s.isCall ? s.underlying : s.quote).safeTransferFrom(
            seller, address(this), amount * s.collateralPerContract
        );
        if (premiumTotal != 0) IERC20(s.quote).safeTransferFrom(buyer, seller, premiumTotal);
        _mint(buyer, longId(q.seriesId), amount, "");
        _mint(seller, shortId(q.seriesId), amount, "");
    }

    /// @notice Fill `amounts[i]` contracts of each signed quote `quotes[i]` in one call, all or
    ///         nothing; the caller is the taker of every one. Each quote is checked and recorded
    ///         as by `fill` (one `QuoteFilled` each), but the tokens move once per party: one
    ///         collateral transfer per (seller, token), one transfer of the net premium between
    ///         the caller and each maker per quote token, one mint per holder (a batch mint
    ///         when it receives several positions).
    ///         Collateral is pulled before premiums move, as in `fill`. Returns each premium.
    function fillMany(Quote[] calldata quotes, bytes[] calldata signatures, uint256[] calldata amounts)
        external
        nonReentrant
        returns (uint256[] memory premiums)
    {
        uint256 n = quotes.length;
        if (n == 0 || signatures.length != n || amounts.length != n) {
            revert BatchLengths(n, signatures.length, amounts.length);
        }
        premiums = new uint256[](n);
        // one record per (token, seller), (quote token, maker) and (position, holder): at most
        // one new record per quote in each table (two for the mints)
        _Ledger memory led = _Ledger(MemoryTables.table(n), MemoryTables.table(n), MemoryTables.table(2 * n));
        for (uint256 i = 0; i < n; ++i) {
            premiums[i] = _record(led, quotes[i], signatures[i], amounts[i]);
        }
        _settleLedger(led);
    }

    /// @notice Fill `units` units of a signed package quote, every leg at once (leg i:
    ///         `units * legs[i].ratio` contracts); the caller is the taker. All the checks of
    ///         `fill`, once for the package (deadline, cancelled, nonce, taker, self-trade, size,
    ///         partial, signature) and per leg (series listed and open, ratio > 0, one quote
    ///         token); one record, one `PackageFilled`. Tokens move once per party: the collateral
    ///         per (token, seller) into the market first, then the net premium in one transfer
    ///         (taker to maker, or back), then one batch mint to each side.
    /// @return premiumPaid what the taker owed for the legs the maker sold (quote base units)
    /// @return premiumReceived what the maker owed for the legs it bought
    function fillPackage(Package calldata p, bytes calldata signature, uint256 units)
        external
        nonReentrant
        returns (uint256 premiumPaid, uint256 premiumReceived)
    {
        (bytes32 h, uint256 done) = _takePackage(p, signature, units);
        _PackageMoves memory m = _packageMoves(p, units);
        (premiumPaid, premiumReceived) = (m.paid, m.received);
        address maker = p.maker;
        emit PackageFilled(h, maker, msg.sender, units, done + units, premiumPaid, premiumReceived);
        uint256 count = MemoryTables.length(m.pulls);
        for (uint256 j = 0; j < count; ++j) {
            (uint256 token, address seller, uint256 amount,) = MemoryTables.record(m.pulls, j);
            if (amount != 0) IERC20(address(uint160(token))).safeTransferFrom(seller, address(this), amount);
        }
        if (premiumPaid > premiumReceived) {
            IERC20(m.quoteToken).safeTransferFrom(msg.sender, maker, premiumPaid - premiumReceived);
        } else if (premiumReceived > premiumPaid) {
            IERC20(m.quoteToken).safeTransferFrom(maker, msg.sender, premiumReceived - premiumPaid);
        }
        _mintBatch(msg.sender, m.takerIds, m.amounts, "");
        _mintBatch(maker, m.makerIds, m.amounts, "");
    }

    /// @notice Cancel one package quote of the caller (the maker) for good.
    function cancelPackage(Package calldata p) external {
        if (p.maker != msg.sender) revert NotMaker(p.maker, msg.sender);
        bytes32 h = _hashPackageCalldata(p);
        _quoteState[h] |= _CANCELLED;
        emit QuoteCancelled(h, msg.sender);
    }

    /// @notice Cancel one quote of the caller (the maker) for good.
    function cancelQuote(Quote calldata q) external {
        if (q.maker != msg.sender) revert NotMaker(q.maker, msg.sender);
        bytes32 h = hashQuote(q);
        _quoteState[h] |= _CANCELLED;
        emit QuoteCancelled(h, msg.sender);
    }

    /// @notice Invalidate every outstanding quote of the caller at once.
    function bumpNonce() external returns (uint256 newNonce) {
        newNonce = ++nonces[msg.sender];
        emit NonceBumped(msg.sender, newNonce);
    }

    /// @notice Before settlement, burn `amount` longs and shorts of the caller and unlock their
    ///         collateral.
    function close(uint256 seriesId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Series storage s = _existing(seriesId);
        if (s.settled) revert AlreadySettled(seriesId);
        _burn(msg.sender, longId(seriesId), amount);
        _burn(msg.sender, shortId(seriesId), amount);
        uint256 collateral = amount * s.collateralPerContract;
        emit Closed(seriesId, msg.sender, amount, collateral);
        IERC20(s.isCall ? s.underlying : s.quote).safeTransfer(msg.sender, collateral);
    }

    // -- settlement --------------------------------------------------------------------------

    /// @notice Settle an expired series with round `roundId` of its feed: the first round updated
    ///         at or after expiry (however late), complete, with a positive answer.
    function settle(uint256 seriesId, uint80 roundId) external {
        Series storage s = _existing(seriesId);
        if (s.settled) revert AlreadySettled(seriesId);
        if (block.timestamp < s.expiry) revert NotExpired(seriesId, s.expiry);
        (, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = s.feed.getRoundData(roundId);
        if (updatedAt < s.expiry) revert RoundBeforeExpiry(roundId, updatedAt, s.expiry);
        // No lateness bound: the first round at or after expiry settles however late it comes
        // (the anti-cherry-pick rule is that it is the FIRST, checked below).
        if (answeredInRound < roundId) revert IncompleteRound(roundId, answeredInRound);
        if (answer <= 0) revert BadPrice(roundId, answer);
        // Chainlink round ids are (phase << 64 | round in phase); the first round of a phase has
        // no earlier round in it to compare with.
        if (uint64(roundId) > 1) {
            uint80 earlier = roundId - 1;
            (,,, uint256 earlierAt,) = s.feed.getRoundData(earlier);
            if (earlierAt >= s.expiry) revert NotFirstRoundAfterExpiry(roundId, earlier, earlierAt);
        }

        uint256 price = (uint256(answer) * 10 ** s.quoteDecimals) / 10 ** s.feedDecimals;
        uint256 payoff;
        if (s.isCall) {
            if (price > s.strike) payoff = (s.contractSize * (price - s.strike)) / price;
        } else if (price < s.strike) {
            payoff = ((s.strike - price) * s.contractSize) / 10 ** s.underlyingDecimals;
        }
        if (price >= 2 ** 128) revert BadPrice(roundId, answer);
        s.settled = true;
        s.settlementPrice = uint128(price);
        s.payoffPerContract = uint128(payoff); // payoff <= collateralPerContract < 2**128
        emit Settled(seriesId, roundId, price, payoff);
    }

    /// @notice Burn `amount` long tokens of a settled series and receive their payoff.
    function redeem(uint256 seriesId, uint256 amount) external nonReentrant returns (uint256 payout) {
        if (amount == 0) revert ZeroAmount();
        Series storage s = _settledSeries(seriesId);
        _burn(msg.sender, longId(seriesId), amount);
        payout = amount * s.payoffPerContract;
        emit Redeemed(seriesId, msg.sender, amount, payout);
        if (payout != 0) IERC20(s.isCall ? s.underlying : s.quote).safeTransfer(msg.sender, payout);
    }

    /// @notice Burn `amount` short tokens of a settled series and receive the collateral left
    ///         after the longs' payoff.
    function withdraw(uint256 seriesId, uint256 amount) external nonReentrant returns (uint256 payout) {
        if (amount == 0) revert ZeroAmount();
        Series storage s = _settledSeries(seriesId);
        _burn(msg.sender, shortId(seriesId), amount);
        payout = amount * (s.collateralPerContract - s.payoffPerContract);
        emit Withdrawn(seriesId, msg.sender, amount, payout);
        if (payout != 0) IERC20(s.isCall ? s.underlying : s.quote).safeTransfer(msg.sender, payout);
    }

    // -- internals ---------------------------------------------------------------------------

    /// Token moves of a `fillMany`, merged per party, as tables in memory (see `_table`):
    /// `pulls` (collateral token as key, seller; amount), `pays` (quote token, maker; `amount`
    /// the caller owes the maker, `owed` what the maker owes the caller), `mints` (position id,
    /// holder; contracts).
    struct _Ledger {
        uint256 pulls;
        uint256 pays;
        uint256 mints;
    }


    /// Every check of a fill, then its record (`filled`, `QuoteFilled`); no token moves.
    function _take(Quote calldata q, bytes calldata signature, uint256 amount)
        private
        returns (Series storage s, uint256 premiumTotal)
    {
        if (amount == 0) revert ZeroAmount();
        s = _existing(q.seriesId);
        _requireOpen(q.seriesId, s);
        bytes32 h = _hashQuoteCalldata(q);
        if (block.timestamp > q.deadline) revert QuoteExpired(h, q.deadline);
        uint256 done = _quoteState[h];
        if (done & _CANCELLED != 0) revert QuoteIsCancelled(h);
        uint256 nonce = nonces[q.maker];
        if (q.nonce != nonce) revert StaleNonce(q.maker, q.nonce, nonce);
        if (q.taker != address(0) && q.taker != msg.sender) revert WrongTaker(q.taker, msg.sender);
        if (q.maker == msg.sender) revert SelfTrade(msg.sender);
        // (a fill total at or above 2**255 would reach the cancelled flag: refused as an overfill)
        if (done + amount > q.size || done + amount >= _CANCELLED) revert Overfill(h, q.size, done, amount);
        if (!q.allowPartial && amount != q.size) revert PartialFillNotAllowed(h, q.size, amount);
        if (!SignatureChecker.isValidSignatureNowCalldata(q.maker, h, signature)) revert BadSignature(h, q.maker);
        _quoteState[h] = done + amount;
        premiumTotal = amount * q.premium;
        emit QuoteFilled(h, q.maker, msg.sender, q.seriesId, q.makerSells, amount, premiumTotal, done + amount);
    }

    /// `hashQuote(q)` without ABI re-encoding: `Quote` is ten static words, hashed as they lie in
    /// calldata after the type hash. Every field but `salt` (a uint256, any word valid) is read
    /// through Solidity's checked calldata access in `_take`, which reverts on a word that is not a
    /// valid address or bool, so the words hashed are the values checked and executed.
    function _hashQuoteCalldata(Quote calldata q) private view returns (bytes32) {
        bytes32 typeHash = QUOTE_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), q, 0x140)
            structHash := keccak256(ptr, 0x160)
        }
        return _hashTypedDataV4(structHash);
    }

    /// The token moves of one package fill: collateral per (token, seller) in `pulls` (a
    /// `MemoryTables` table), the positions each side receives (`amounts[i]` of `takerIds[i]` /
    /// `makerIds[i]`), and the premium owed each way in `quoteToken`.
    struct _PackageMoves {
        uint256 pulls;
        uint256[] amounts;
        uint256[] takerIds;
        uint256[] makerIds;
        address quoteToken;
        uint256 paid;
        uint256 received;
    }

    /// Check every leg of `p` (series listed and open, ratio > 0, one quote token) and gather
    /// the moves of filling `units` units.
    function _packageMoves(Package calldata p, uint256 units) private view returns (_PackageMoves memory m) {
        uint256 n = p.legs.length;
        m.pulls = MemoryTables.table(n);
        m.amounts = new uint256[](n);
        m.takerIds = new uint256[](n);
        m.makerIds = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            _packageLeg(m, p.legs[i], i, units, p.maker);
        }
    }

    function _packageLeg(_PackageMoves memory m, Leg calldata leg, uint256 i, uint256 units, address maker)
        private
        view
    {
        uint256 seriesId = leg.seriesId;
        Series storage s = _existing(seriesId);
        _requireOpen(seriesId, s);
        if (leg.ratio == 0) revert InvalidPackage(i, "ratio must be > 0");
        address q = s.quote;
        if (i == 0) m.quoteToken = q;
        else if (q != m.quoteToken) revert InvalidPackage(i, "every leg must settle in the quote token of leg 0");
        uint256 contracts = units * leg.ratio;
        m.amounts[i] = contracts;
        bool makerSells = leg.makerSells;
        MemoryTables.addTo(
            MemoryTables.entry(m.pulls, uint160(s.isCall ? s.underlying : q), makerSells ? maker : msg.sender) + 64,
            contracts * s.collateralPerContract
        );
        if (makerSells) {
            m.paid += contracts * leg.premium;
            (m.takerIds[i], m.makerIds[i]) = (longId(seriesId), shortId(seriesId));
        } else {
            m.received += contracts * leg.premium;
            (m.takerIds[i], m.makerIds[i]) = (shortId(seriesId), longId(seriesId));
        }
    }

    /// Every package-wide check of `fillPackage`, then its record; returns the package's digest
    /// and the units filled before. The legs are checked by `_packageMoves`.
    function _takePackage(Package calldata p, bytes calldata signature, uint256 units)
        private
        returns (bytes32 h, uint256 done)
    {
        if (units == 0) revert ZeroAmount();
        uint256 n = p.legs.length;
        if (n == 0 || n > MAX_PACKAGE_LEGS) revert InvalidPackage(n, "a package has 1 to 16 legs");
        h = _hashPackageCalldata(p);
        if (block.timestamp > p.deadline) revert QuoteExpired(h, p.deadline);
        done = _quoteState[h];
        if (done & _CANCELLED != 0) revert QuoteIsCancelled(h);
        address maker = p.maker;
        uint256 nonce = nonces[maker];
        if (p.nonce != nonce) revert StaleNonce(maker, p.nonce, nonce);
        if (p.taker != address(0) && p.taker != msg.sender) revert WrongTaker(p.taker, msg.sender);
        if (maker == msg.sender) revert SelfTrade(msg.sender);
        if (done + units > p.size || done + units >= _CANCELLED) revert Overfill(h, p.size, done, units);
        if (!p.allowPartial && units != p.size) revert PartialFillNotAllowed(h, p.size, units);
        if (!SignatureChecker.isValidSignatureNowCalldata(maker, h, signature)) revert BadSignature(h, maker);
        _quoteState[h] = done + units;
    }

    /// The EIP-712 digest of a package: each leg's struct hash over its four calldata words as
    /// they lie (every word but the `makerSells` bool is a uint256, any word valid; a
    /// `makerSells` word other than 0 or 1 reverts here, so `hashPackage`, `remainingPackage`
    /// and `cancelPackage` never act on a digest no maker can sign), then the package's fields
    /// ABI-encoded from checked reads.
    function _hashPackageCalldata(Package calldata p) private view returns (bytes32) {
        Leg[] calldata legs = p.legs;
        bytes32 legTypeHash = LEG_TYPEHASH;
        bytes32 legsHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let hashes := add(ptr, 0xa0)
            for { let i := 0 } lt(i, legs.length) { i := add(i, 1) } {
                mstore(ptr, legTypeHash)
                calldatacopy(add(ptr, 0x20), add(legs.offset, mul(i, 0x80)), 0x80)
                // makerSells must be a clean bool, as Solidity's own calldata read demands
                if gt(mload(add(ptr, 0x40)), 1) { revert(0, 0) }
                mstore(add(hashes, mul(i, 0x20)), keccak256(ptr, 0xa0))
            }
            legsHash := keccak256(hashes, mul(legs.length, 0x20))
        }
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    PACKAGE_TYPEHASH, p.maker, p.taker, legsHash, p.size, p.deadline, p.nonce, p.allowPartial, p.salt
                )
            )
        );
    }

    /// Check and record one quote of a `fillMany` and merge its token moves into `led`.
    function _record(_Ledger memory led, Quote calldata q, bytes calldata signature, uint256 amount)
        private
        returns (uint256 premium)
    {
        Series storage s;
        (s, premium) = _take(q, signature, amount);
        (address seller, address buyer) = q.makerSells ? (q.maker, msg.sender) : (msg.sender, q.maker);
        address quoteToken = s.quote;
        MemoryTables.addTo(
            MemoryTables.entry(led.pulls, uint160(s.isCall ? s.underlying : quoteToken), seller) + 64,
            amount * s.collateralPerContract
        );
        if (premium != 0) {
            uint256 r = MemoryTables.entry(led.pays, uint160(quoteToken), q.maker);
            MemoryTables.addTo(q.makerSells ? r + 64 : r + 96, premium);
        }
        MemoryTables.addTo(MemoryTables.entry(led.mints, longId(q.seriesId), buyer) + 64, amount);
        MemoryTables.addTo(MemoryTables.entry(led.mints, shortId(q.seriesId), seller) + 64, amount);
    }


    /// Collateral first (into the market), then each maker's net premium, then the mints.
    function _settleLedger(_Ledger memory led) private {
        uint256 count = MemoryTables.length(led.pulls);
        for (uint256 j = 0; j < count; ++j) {
            (uint256 token, address seller, uint256 amount,) = MemoryTables.record(led.pulls, j);
            if (amount != 0) IERC20(address(uint160(token))).safeTransferFrom(seller, address(this), amount);
        }
        count = MemoryTables.length(led.pays);
        for (uint256 j = 0; j < count; ++j) {
            (uint256 token, address maker, uint256 amount, uint256 owed) = MemoryTables.record(led.pays, j);
            if (amount > owed) IERC20(address(uint160(token))).safeTransferFrom(msg.sender, maker, amount - owed);
            else if (owed > amount) IERC20(address(uint160(token))).safeTransferFrom(maker, msg.sender, owed - amount);
        }
        // one mint per holder: its positions in one TransferBatch (one acceptance check)
        count = MemoryTables.length(led.mints);
        for (uint256 j = 0; j < count; ++j) {
            (uint256 id, address holder, uint256 amount,) = MemoryTables.record(led.mints, j);
            if (holder == address(0)) continue; // already minted with an earlier holder's batch
            uint256 same = 1;
            for (uint256 k = j + 1; k < count; ++k) {
                (, address other,,) = MemoryTables.record(led.mints, k);
                if (other == holder) ++same;
            }
            if (same == 1) {
                _mint(holder, id, amount, "");
                continue;
            }
            uint256[] memory ids = new uint256[](same);
            uint256[] memory values = new uint256[](same);
            uint256 c;
            for (uint256 k = j; k < count; ++k) {
                (uint256 kid, address other, uint256 kamount,) = MemoryTables.record(led.mints, k);
                if (other != holder) continue;
                ids[c] = kid;
                values[c++] = kamount;
                MemoryTables.forget(led.mints, k);
            }
            _mintBatch(holder, ids, values, "");
        }
    }


    function _existing(uint256 seriesId) private view returns (Series storage s) {
        s = _series[seriesId];
        if (s.underlying == address(0)) revert UnknownSeries(seriesId);
    }

    function _settledSeries(uint256 seriesId) private view returns (Series storage s) {
        s = _existing(seriesId);
        if (!s.settled) revert NotSettled(seriesId);
    }

    function _requireOpen(uint256 seriesId, Series storage s) private view {
        if (block.timestamp >= s.expiry) revert SeriesExpired(seriesId, s.expiry);
    }
}
