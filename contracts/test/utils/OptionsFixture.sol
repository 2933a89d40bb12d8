// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {BatchExecutor} from "../../src/BatchExecutor.sol";
import {DevOracle} from "../../src/DevOracle.sol";
import {DevToken} from "../../src/DevToken.sol";
import {OptionsMarket} from "../../src/OptionsMarket.sol";
import {TestBase} from "./TestBase.sol";

/// The cheatcodes the options tests need beyond TestBase's (same cheatcode address).
interface VmSigning {
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function chainId(uint256 newChainId) external;
    function expectRevert() external;
    function deal(address account, uint256 newBalance) external;
}

/// A feed whose rounds are set one by one, for cases DevOracle cannot produce
/// (answeredInRound < roundId, phase-encoded round ids).
contract ScriptedFeed is AggregatorV3Interface {
    struct R {
        int256 answer;
        uint256 updatedAt;
        uint80 answeredInRound;
        bool exists;
    }

    mapping(uint80 => R) internal _r;
    uint80 internal _latest;

    function put(uint80 id, int256 answer, uint256 updatedAt, uint80 answeredInRound) external {
        _r[id] = R(answer, updatedAt, answeredInRound, true);
        if (id > _latest) _latest = id;
    }

    function decimals() external pure returns (uint8) {
        return 8;
    }

    function description() external pure returns (string memory) {
        return "scripted";
    }

    function version() external pure returns (uint256) {
        return 1;
    }

    function getRoundData(uint80 id) public view returns (uint80, int256, uint256, uint256, uint80) {
        R memory r = _r[id];
        require(r.exists, "no round");
        return (id, r.answer, r.updatedAt, r.updatedAt, r.answeredInRound);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(_latest);
    }
}

/// Tokens, feeds, a market with ETH (0.1 WETH contracts) and WBTC (0.01 WBTC) series at a
/// 3,000 / 60,000 USDC strike, a maker (EOA key) and a taker, all funded and approved.
abstract contract OptionsFixture is TestBase {
    VmSigning internal constant vms = VmSigning(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    uint256 internal constant T0 = 1_700_000_000;
    uint64 internal constant EXPIRY = uint64(T0 + 7 days);
    uint256 internal constant ETH_SIZE = 1e17; // 0.1 WETH per contract
    uint256 internal constant BTC_SIZE = 1e6; // 0.01 WBTC per contract
    uint256 internal constant K_ETH = 3_000e6;
    uint256 internal constant K_BTC = 60_000e6;
    uint256 internal constant MAKER_KEY = 0xA11CE;
    uint256 internal constant TAKER_KEY = 0xB0B;

    DevToken internal usdc;
    DevToken internal weth;
    DevToken internal wbtc;
    DevOracle internal ethFeed;
    DevOracle internal btcFeed;
    OptionsMarket internal market;
    address internal maker;
    address internal taker;
    uint256 internal ethCall;
    uint256 internal ethPut;
    uint256 internal btcPut;

    function setUp() public virtual {
        vm.warp(T0);
        usdc = new DevToken("USD Coin", "USDC", 6);
        weth = new DevToken("Wrapped Ether", "WETH", 18);
        wbtc = new DevToken("Wrapped BTC", "WBTC", 8);
        ethFeed = new DevOracle("ETH / USD", 8, 3_000e8);
        btcFeed = new DevOracle("BTC / USD", 8, 60_000e8);
        market = new OptionsMarket(address(this), "");
        market.setFeed(address(weth), ethFeed);
        market.setFeed(address(wbtc), btcFeed);
        ethCall = market.listSeries(address(weth), address(usdc), K_ETH, EXPIRY, true, ETH_SIZE);
        ethPut = market.listSeries(address(weth), address(usdc), K_ETH, EXPIRY, false, ETH_SIZE);
        btcPut = market.listSeries(address(wbtc), address(usdc), K_BTC, EXPIRY, false, BTC_SIZE);
        maker = vms.addr(MAKER_KEY);
        taker = vms.addr(TAKER_KEY);
        _fund(maker);
        _fund(taker);
    }

    function _fund(address who) internal {
        usdc.mint(who, 10_000_000e6);
        weth.mint(who, 1_000e18);
        wbtc.mint(who, 100e8);
        vm.startPrank(who);
        usdc.approve(address(market), type(uint256).max);
        weth.approve(address(market), type(uint256).max);
        wbtc.approve(address(market), type(uint256).max);
        vm.stopPrank();
    }

    function _quote(uint256 seriesId, bool makerSells, uint256 size, uint256 premium)
        internal
        view
        returns (OptionsMarket.Quote memory q)
    {
        q = OptionsMarket.Quote({
            maker: maker,
            taker: address(0),
            seriesId: seriesId,
            makerSells: makerSells,
            size: size,
            premium: premium,
            deadline: block.timestamp + 60,
            nonce: market.nonces(maker),
            allowPartial: true,
            salt: 1
        });
    }

    function _sign(uint256 key, OptionsMarket.Quote memory q) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vms.sign(key, market.hashQuote(q));
        return abi.encodePacked(r, s, v);
    }

    function _fillAs(address who, OptionsMarket.Quote memory q, bytes memory sig, uint256 amount)
        internal
        returns (uint256)
    {
        vm.prank(who);
        return market.fill(q, sig, amount);
    }

    /// Warp to expiry and post `price` (8 decimals) as the first round at expiry.
    function _expireAt(DevOracle feed, int256 price) internal returns (uint80 roundId) {
        vm.warp(EXPIRY);
        roundId = feed.setAnswer(price);
    }
}
